package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func i32(v int32) *int32 { return &v }

func good() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{
		Replicas: i32(5),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
		Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}},
		},
		Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
			{SetWeight: i32(20)}, {Pause: &v1alpha1.RolloutPause{}},
		}}},
	}}
}

func TestRolloutErrorsNameTheField(t *testing.T) {
	zero, pct := intstr.FromInt32(0), intstr.FromString("0%")
	bad := intstr.FromString("5 minutes")
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.Rollout)
		field string
	}{
		{"valid", func(*v1alpha1.Rollout) {}, ""},
		{"no template nor workloadRef", func(r *v1alpha1.Rollout) { r.Spec.Template = nil }, "spec.template"},
		{"both", func(r *v1alpha1.Rollout) {
			r.Spec.WorkloadRef = &v1alpha1.WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}
		}, "spec.template"},
		{"selector mismatch", func(r *v1alpha1.Rollout) { r.Spec.Selector.MatchLabels["app"] = "b" }, "spec.template.metadata.labels"},
		{"no selector", func(r *v1alpha1.Rollout) { r.Spec.Selector = nil }, "spec.selector"},
		{"no containers", func(r *v1alpha1.Rollout) { r.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers"},
		{"negative replicas", func(r *v1alpha1.Rollout) { r.Spec.Replicas = i32(-1) }, "spec.replicas"},
		{"deadline below minReady", func(r *v1alpha1.Rollout) {
			r.Spec.MinReadySeconds, r.Spec.ProgressDeadlineSeconds = 10, i32(5)
		}, "spec.progressDeadlineSeconds"},
		{"no strategy", func(r *v1alpha1.Rollout) { r.Spec.Strategy.Canary = nil }, "spec.strategy"},
		{"weight 101", func(r *v1alpha1.Rollout) { r.Spec.Strategy.Canary.Steps[0].SetWeight = i32(101) }, "spec.strategy.canary.steps[0].setWeight"},
		{"two actions", func(r *v1alpha1.Rollout) { r.Spec.Strategy.Canary.Steps[1].SetWeight = i32(5) }, "spec.strategy.canary.steps[1]"},
		{"bad pause", func(r *v1alpha1.Rollout) { r.Spec.Strategy.Canary.Steps[1].Pause.Duration = &bad }, "spec.strategy.canary.steps[1].pause.duration"},
		{"zero surge and unavailable", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.MaxSurge, r.Spec.Strategy.Canary.MaxUnavailable = &zero, &pct
		}, "spec.strategy.canary.maxUnavailable"},
		{"canary scale without router", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: i32(1)}}
		}, "spec.strategy.canary.steps[0].setCanaryScale"},
		{"router without services", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{Plugins: map[string]runtime.RawExtension{"x": {}}}
		}, "spec.strategy.canary.stableService"},
		{"bad scaleDown", func(r *v1alpha1.Rollout) {
			r.Spec.Template = nil
			r.Spec.WorkloadRef = &v1alpha1.WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", ScaleDown: "sometimes"}
		}, "spec.workloadRef.scaleDown"},
		{"same active and preview", func(r *v1alpha1.Rollout) {
			r.Spec.Strategy.Canary = nil
			r.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "s", PreviewService: "s"}
		}, "spec.strategy.blueGreen.previewService"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := good()
			tc.edit(ro)
			errs := Rollout(ro)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("valid rollout rejected: %v", errs)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("accepted; want an error on %s", tc.field)
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.field+":") {
				t.Fatalf("error does not name %s: %v", tc.field, errs)
			}
		})
	}
}

func TestPauseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "30s": 30 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute} {
		v := intstr.FromString(in)
		if got, err := PauseDuration(&v); err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5", "5 minutes", "-1s", "1d"} {
		v := intstr.FromString(in)
		if _, err := PauseDuration(&v); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	v := intstr.FromInt32(7)
	if got, _ := PauseDuration(&v); got != 7*time.Second {
		t.Errorf("int 7: %v", got)
	}
}

func FuzzPauseDuration(f *testing.F) {
	for _, s := range []string{"30", "30s", "1h30m", "5 minutes", "-1", "9999999999999", "1e9s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := intstr.FromString(s)
		d, err := PauseDuration(&v)
		if err == nil && d < 0 {
			t.Fatalf("%q: negative duration %v accepted", s, d)
		}
	})
}
