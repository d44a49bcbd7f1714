// Package conditions reads and writes Rollout conditions the way Kubernetes
// API conventions ask: one entry per type, lastTransitionTime moves only when
// the status flips, lastUpdateTime only when something about it changes, so a
// status write happens only when there is news.
package conditions

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Get returns the condition of type t, or nil.
func Get(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// IsTrue reports whether condition t is present with status True.
func IsTrue(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) bool {
	c := Get(st, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// Set puts condition t in st. It reports whether anything changed. Times are
// kept when status, reason and message are unchanged.
func Set(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	c := Get(st, t)
	if c == nil {
		st.Conditions = append(st.Conditions, v1alpha1.RolloutCondition{
			Type: t, Status: status, Reason: reason, Message: message,
			LastUpdateTime: now, LastTransitionTime: now,
		})
		return true
	}
	if c.Status == status && c.Reason == reason && c.Message == message {
		return false
	}
	if c.Status != status {
		c.LastTransitionTime = now
	}
	c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, message, now
	return true
}

// Touch moves condition t's lastUpdateTime to now (progress was made).
func Touch(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType, now metav1.Time) {
	if c := Get(st, t); c != nil {
		c.LastUpdateTime = now
	}
}

// Remove deletes condition t. It reports whether one was there.
func Remove(st *v1alpha1.RolloutStatus, t v1alpha1.RolloutConditionType) bool {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			st.Conditions = append(st.Conditions[:i], st.Conditions[i+1:]...)
			return true
		}
	}
	return false
}
