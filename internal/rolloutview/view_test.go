package rolloutview

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func i32(v int32) *int32 { return &v }

func canaryRollout(idx int32) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "ro-uid", Generation: 2},
		Spec: v1alpha1.RolloutSpec{Replicas: i32(5), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: []v1alpha1.CanaryStep{{SetWeight: i32(20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: i32(50)}, {Pause: &v1alpha1.RolloutPause{}}},
		}}},
		Status: v1alpha1.RolloutStatus{
			ObservedGeneration: "2", Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep",
			CurrentStepIndex: i32(idx), CurrentPodHash: "new", StableRS: "old",
			PauseConditions:   []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep}},
			AvailableReplicas: 6, Replicas: 6,
		},
	}
}

func rs(hash, rev string, replicas, available int32) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-" + hash, UID: k8stypes.UID("uid-" + hash),
			Labels:          map[string]string{PodTemplateHashLabel: hash},
			Annotations:     map[string]string{RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Rollout", Name: "web", UID: "ro-uid", Controller: ptrTrue()}},
		},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "web:" + hash}}}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, AvailableReplicas: available},
	}
}

func ptrTrue() *bool { t := true; return &t }

// ActualWeight is canary available / all available (3 of 6 is 50, not 3 of 5).
func TestActualWeightIsShareOfAvailablePods(t *testing.T) {
	ro := canaryRollout(3)
	info := Build(Objects{Rollout: ro, ReplicaSets: []appsv1.ReplicaSet{rs("new", "2", 3, 3), rs("old", "1", 3, 3)}}, Options{Now: time.Now()})
	if info.Step != "3/4" || info.SetWeight != "50" || info.ActualWeight != "50" {
		t.Fatalf("step %s set %s actual %s", info.Step, info.SetWeight, info.ActualWeight)
	}
	// With a traffic router the weight is what the router was told.
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{}
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 10}}
	info = Build(Objects{Rollout: ro, ReplicaSets: []appsv1.ReplicaSet{rs("new", "2", 3, 3), rs("old", "1", 3, 3)}}, Options{})
	if info.ActualWeight != "10" {
		t.Fatalf("routed actual weight %s", info.ActualWeight)
	}
	// As upstream: no weights recorded yet means SetWeight, no available pod
	// means 0, and past the last step it is 100 whatever the route carries
	// (0% canary at rest: both Services select the new pods).
	ro.Status.Canary.Weights = nil
	if info = Build(Objects{Rollout: ro}, Options{}); info.ActualWeight != "50" {
		t.Fatalf("routed, no weights: %s", info.ActualWeight)
	}
	ro.Status.AvailableReplicas = 0
	if info = Build(Objects{Rollout: ro}, Options{}); info.ActualWeight != "0" {
		t.Fatalf("routed, nothing available: %s", info.ActualWeight)
	}
	ro.Status.AvailableReplicas, ro.Status.CurrentStepIndex = 5, i32(4)
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 0}}
	if info = Build(Objects{Rollout: ro}, Options{}); info.ActualWeight != "100" {
		t.Fatalf("routed, all steps done: %s", info.ActualWeight)
	}
}

func TestSetWeight(t *testing.T) {
	steps := canaryRollout(0).Spec.Strategy.Canary.Steps
	for _, tc := range []struct {
		aborted bool
		idx     int32
		want    int32
	}{{false, 0, 20}, {false, 1, 20}, {false, 2, 50}, {false, 3, 50}, {false, 4, 100}, {true, 3, 0}} {
		if got := setWeight(tc.aborted, steps, tc.idx); got != tc.want {
			t.Errorf("aborted %v idx %d: %d, want %d", tc.aborted, tc.idx, got, tc.want)
		}
	}
	if got := setWeight(false, []v1alpha1.CanaryStep{{Pause: &v1alpha1.RolloutPause{}}}, 0); got != 0 {
		t.Errorf("no setWeight before the step: %d", got)
	}
}

// A status written for an older spec is not believed, and a request the
// controller has not acted on reads as Progressing.
func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.Rollout)
		wgen  int64
		phase v1alpha1.RolloutPhase
		msg   string
	}{
		{"paused", func(*v1alpha1.Rollout) {}, 0, v1alpha1.RolloutPhasePaused, "CanaryPauseStep"},
		{"new spec", func(r *v1alpha1.Rollout) { r.Generation = 3 }, 0, v1alpha1.RolloutPhaseProgressing, NotObservedMessage},
		{"promoted", func(r *v1alpha1.Rollout) { r.Status.PauseConditions = nil }, 0, v1alpha1.RolloutPhaseProgressing, "promotion requested"},
		{"abort asked", func(r *v1alpha1.Rollout) { r.Status.Abort = true }, 0, v1alpha1.RolloutPhaseProgressing, "abort requested"},
		{"retry asked", func(r *v1alpha1.Rollout) {
			r.Status.Phase, r.Status.Message = v1alpha1.RolloutPhaseDegraded, "RolloutAborted: Rollout aborted update to revision 2"
		}, 0, v1alpha1.RolloutPhaseProgressing, "retry requested"},
		{"aborted", func(r *v1alpha1.Rollout) {
			r.Status.Abort, r.Status.Phase, r.Status.Message = true, v1alpha1.RolloutPhaseDegraded, "RolloutAborted: x"
		}, 0, v1alpha1.RolloutPhaseDegraded, "RolloutAborted: x"},
		{"workload changed", func(r *v1alpha1.Rollout) { r.Status.WorkloadObservedGeneration = "4" }, 5,
			v1alpha1.RolloutPhaseProgressing, "workloadRef Deployment"},
		{"workload seen", func(r *v1alpha1.Rollout) { r.Status.WorkloadObservedGeneration = "5" }, 5, v1alpha1.RolloutPhasePaused, "CanaryPauseStep"},
	} {
		ro := canaryRollout(1)
		tc.edit(ro)
		phase, msg := Progress(ro, tc.wgen)
		if phase != tc.phase || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %s %q, want %s %q", tc.name, phase, msg, tc.phase, tc.msg)
		}
	}
}

func TestPodStatus(t *testing.T) {
	for _, tc := range []struct {
		pod        corev1.Pod
		text, icon string
	}{
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, "Running", IconOK},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "Pending", IconProgressing},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}}, "ImagePullBackOff", IconWarning},
		{corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, "Error", IconBad},
		{corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{}}}, "Terminating", IconProgressing},
	} {
		text, icon := podStatus(&tc.pod, true)
		if text != tc.text || icon != tc.icon {
			t.Errorf("%+v: %s %s, want %s %s", tc.pod.Status, icon, text, tc.icon, tc.text)
		}
	}
}

// Why lines name the cause and the command, with the Rollout's namespace.
func TestWhyNamesTheAction(t *testing.T) {
	ro := canaryRollout(2)
	ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonInconclusiveAnalysis}}
	ro.Status.Conditions = []v1alpha1.RolloutCondition{{Type: "WorkloadStillServing", Status: corev1.ConditionTrue}}
	ro.Spec.WorkloadRef = &v1alpha1.WorkloadRef{Name: "web"}
	info := Build(Objects{Rollout: ro}, Options{Now: time.Now(), Command: "sluice"})
	got := strings.Join(info.Why, "\n")
	for _, want := range []string{`Deployment "web"`, "scaleDown: onsuccess", "sluice promote web -n shop", "sluice abort web -n shop"} {
		if !strings.Contains(got, want) {
			t.Errorf("Why lack %q:\n%s", want, got)
		}
	}
	// No loud condition, no Why.
	if info := Build(Objects{Rollout: canaryRollout(1)}, Options{Now: time.Now()}); len(info.Why) != 0 {
		t.Errorf("unexpected Why: %v", info.Why)
	}
}

func TestListLayout(t *testing.T) {
	var b strings.Builder
	infos := []*Info{
		Build(Objects{Rollout: canaryRollout(1), ReplicaSets: []appsv1.ReplicaSet{rs("new", "2", 1, 1), rs("old", "1", 4, 4)}}, Options{}),
	}
	if err := RenderList(&b, infos, true); err != nil {
		t.Fatal(err)
	}
	want := "NAMESPACE  NAME  STRATEGY  STATUS  STEP  SET-WEIGHT  ACTUAL-WEIGHT  READY  UP-TO-DATE  AVAILABLE  AGE\n" +
		"shop       web   Canary    Paused  1/4   20          16             0/5    0           6\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
