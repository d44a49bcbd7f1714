package instance

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func TestMine(t *testing.T) {
	ro := func(labels map[string]string) *v1alpha1.Rollout {
		return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
	}
	for _, tc := range []struct {
		labels map[string]string
		id     string
		want   bool
	}{
		{nil, "", true}, // no id, no label: ours
		{map[string]string{Label: "a"}, "", false}, // labelled for an instance: not the default controller's
		{map[string]string{Label: "a"}, "a", true},
		{map[string]string{Label: "a"}, "b", false},
		{nil, "a", false}, // an instance handles only what is labelled for it
		{map[string]string{Label: ""}, "", true},
	} {
		if got := Mine(ro(tc.labels), tc.id); got != tc.want {
			t.Errorf("labels %v, id %q: Mine = %v, want %v", tc.labels, tc.id, got, tc.want)
		}
	}
}
