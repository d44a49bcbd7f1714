// The tree under a Rollout: its ReplicaSets by revision, their pods, and the
// AnalysisRuns that gated each revision, as Build assembles them.

package rolloutview

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// owned keeps the ReplicaSets the Rollout controls.
func owned(ro *v1alpha1.Rollout, all []appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for i := range all {
		if controlledBy(&all[i].ObjectMeta, ro) {
			out = append(out, &all[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := revisionOf(out[i].Annotations), revisionOf(out[j].Annotations)
		if ri != rj {
			return ri > rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func controlledBy(m *metav1.ObjectMeta, ro *v1alpha1.Rollout) bool {
	ref := metav1.GetControllerOfNoCopy(m)
	if ref == nil || ref.Kind != "Rollout" {
		return false
	}
	if ro.UID != "" && ref.UID != "" {
		return ref.UID == ro.UID
	}
	return ref.Name == ro.Name
}

func podsByOwner(rss []*appsv1.ReplicaSet, all []corev1.Pod) map[types.UID][]*corev1.Pod {
	uids := map[types.UID]bool{}
	for _, rs := range rss {
		uids[rs.UID] = true
	}
	out := map[types.UID][]*corev1.Pod{}
	for i := range all {
		ref := metav1.GetControllerOfNoCopy(&all[i].ObjectMeta)
		if ref != nil && ref.Kind == "ReplicaSet" && uids[ref.UID] {
			out[ref.UID] = append(out[ref.UID], &all[i])
		}
	}
	for _, ps := range out {
		sort.SliceStable(ps, func(i, j int) bool {
			ti, tj := ps[i].CreationTimestamp, ps[j].CreationTimestamp
			if !ti.Equal(&tj) {
				return ti.Before(&tj)
			}
			return ps[i].Name < ps[j].Name
		})
	}
	return out
}

func revisionOf(ann map[string]string) int64 {
	n, _ := strconv.ParseInt(ann[RevisionAnnotation], 10, 64)
	return n
}

func replicaSetInfo(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) ReplicaSetInfo {
	hash := rs.Labels[PodTemplateHashLabel]
	st := ro.Status
	var tags []string
	if ro.Spec.Strategy.BlueGreen != nil {
		if hash != "" && hash == st.StableRS {
			tags = append(tags, "stable")
		}
		if hash != "" && hash == st.BlueGreen.ActiveSelector {
			tags = append(tags, "active")
		}
		if hash != "" && hash == st.BlueGreen.PreviewSelector && hash != st.BlueGreen.ActiveSelector {
			tags = append(tags, "preview")
		}
	} else {
		switch {
		case hash == "":
		case hash == st.StableRS:
			tags = append(tags, "stable")
		case hash == st.CurrentPodHash:
			tags = append(tags, "canary")
		}
	}
	ri := ReplicaSetInfo{
		Name: rs.Name, Tags: tags, Replicas: replicas(rs), Available: rs.Status.AvailableReplicas,
		Created: rs.CreationTimestamp.Time, Age: age(now, rs.CreationTimestamp),
	}
	for _, c := range rs.Spec.Template.Spec.Containers {
		ri.Images = append(ri.Images, c.Image)
	}
	switch {
	case ri.Replicas == 0:
		ri.Status, ri.Icon = "ScaledDown", IconNeutral
	case rs.Status.AvailableReplicas >= ri.Replicas:
		ri.Status, ri.Icon = "Healthy", IconOK
	default:
		ri.Status, ri.Icon = "Progressing", IconProgressing
	}
	infos := append([]string(nil), tags...)
	if d := rs.Annotations[ScaleDownDeadlineAnnotation]; d != "" {
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			if left := t.Sub(now); left > 0 {
				infos = append(infos, "delay:"+shortDuration(left))
			} else {
				infos = append(infos, "delay:passed")
			}
		}
	}
	ri.Info = strings.Join(infos, ",")
	for _, p := range pods {
		ri.Pods = append(ri.Pods, podInfo(p, now))
	}
	return ri
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func sortImages(m map[string]map[string]bool) []Image {
	order := []string{"stable", "canary", "active", "preview"}
	var out []Image
	for img, tags := range m {
		im := Image{Image: img}
		for _, t := range order {
			if tags[t] {
				im.Tags = append(im.Tags, t)
			}
		}
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out
}

func podInfo(p *corev1.Pod, now time.Time) PodInfo {
	pi := PodInfo{Name: p.Name, Created: p.CreationTimestamp.Time, Age: age(now, p.CreationTimestamp)}
	ready, total := 0, len(p.Spec.Containers)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		pi.Restarts += cs.RestartCount
	}
	pi.Ready = fmt.Sprintf("%d/%d", ready, total)
	pi.Status, pi.Icon = podStatus(p, ready == total && total > 0)
	return pi
}

// podStatus condenses a pod's state the way `kubectl get pods` does, with an
// icon: a waiting or terminated container's reason wins over the phase.
func podStatus(p *corev1.Pod, allReady bool) (string, string) {
	if p.DeletionTimestamp != nil {
		return "Terminating", IconProgressing
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return "Completed", IconOK
	case corev1.PodFailed:
		if p.Status.Reason != "" {
			return p.Status.Reason, IconBad
		}
		return "Error", IconBad
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				if w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
					return w.Reason, IconProgressing
				}
				return w.Reason, IconWarning
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				if t.Reason != "" {
					return t.Reason, IconBad
				}
				return "Error", IconBad
			}
		}
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		if allReady {
			return "Running", IconOK
		}
		return "Running", IconProgressing
	case corev1.PodPending, "":
		return "Pending", IconProgressing
	}
	return string(p.Status.Phase), IconUnknown
}

// ownedRuns keeps the AnalysisRuns of the Rollout: controlled by it, or
// without an owner but named after one of its ReplicaSets.
func ownedRuns(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet, all []v1alpha1.AnalysisRun) []*v1alpha1.AnalysisRun {
	var out []*v1alpha1.AnalysisRun
	for i := range all {
		ar := &all[i]
		if controlledBy(&ar.ObjectMeta, ro) {
			out = append(out, ar)
			continue
		}
		if metav1.GetControllerOfNoCopy(&ar.ObjectMeta) == nil && rsByPrefix(ar.Name, rss) != nil {
			out = append(out, ar)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func rsByPrefix(name string, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range rss {
		if strings.HasPrefix(name, rs.Name+"-") {
			return rs
		}
	}
	return nil
}

// runRevision places an AnalysisRun: its revision annotation, else the
// ReplicaSet of its pod-template-hash label, else the ReplicaSet it is named after.
func runRevision(ar *v1alpha1.AnalysisRun, rss []*appsv1.ReplicaSet) int64 {
	if n := revisionOf(ar.Annotations); n > 0 {
		return n
	}
	if h := ar.Labels[PodTemplateHashLabel]; h != "" {
		for _, rs := range rss {
			if rs.Labels[PodTemplateHashLabel] == h {
				return revisionOf(rs.Annotations)
			}
		}
	}
	if rs := rsByPrefix(ar.Name, rss); rs != nil {
		return revisionOf(rs.Annotations)
	}
	return 0
}

func analysisInfo(ar *v1alpha1.AnalysisRun, now time.Time) AnalysisInfo {
	ai := AnalysisInfo{Name: ar.Name, Created: ar.CreationTimestamp.Time, Age: age(now, ar.CreationTimestamp)}
	for _, m := range ar.Status.MetricResults {
		ai.Successful += m.Successful
		ai.Failed += m.Failed
		ai.Inconclusive += m.Inconclusive
		ai.Error += m.Error
	}
	phase := ar.Status.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	ai.Status = string(phase)
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		ai.Icon = IconOK
	case v1alpha1.AnalysisPhaseFailed:
		ai.Icon = IconBad
	case v1alpha1.AnalysisPhaseError:
		ai.Icon = IconWarning
	case v1alpha1.AnalysisPhaseInconclusive:
		ai.Icon = IconUnknown
	default:
		ai.Icon = IconProgressing
	}
	return ai
}
