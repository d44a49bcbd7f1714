package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var ctx = context.Background()

func ptr[T any](v T) *T { return &v }

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: image}}},
	}
}

func deployment(ns, name, image string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, image),
		},
	}
}

// seedSteps are the seeds' pause-only canary: setWeight 20 / pause / setWeight 50 / pause.
func seedSteps() []v1alpha1.CanaryStep {
	return []v1alpha1.CanaryStep{
		{SetWeight: ptr(int32(20))}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr(int32(50))}, {Pause: &v1alpha1.RolloutPause{}},
	}
}

func templateRollout(ns, name, image string, replicas int32, steps []v1alpha1.CanaryStep) *v1alpha1.Rollout {
	t := podTemplate(name, image)
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: &t,
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

func workloadRollout(ns, name, deploy, scaleDown string, replicas int32, steps []v1alpha1.CanaryStep) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas:    &replicas,
			WorkloadRef: &v1alpha1.WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy, ScaleDown: scaleDown},
			Strategy:    v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

func create(t *testing.T, env *testenv.Env, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func getRollout(t *testing.T, env *testenv.Env, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	var ro v1alpha1.Rollout
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &ro); err != nil {
		t.Fatalf("getting rollout: %v", err)
	}
	return &ro
}

// rsState is one ReplicaSet's spec/available counts, keyed by pod-template hash.
type rsState struct {
	Name            string
	Spec, Available int32
	Revision        string
}

func replicaSets(t *testing.T, env *testenv.Env, ns, rollout string) map[string]rsState {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing ReplicaSets: %v", err)
	}
	out := map[string]rsState{}
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.Kind != "Rollout" || ref.Name != rollout {
			continue
		}
		out[rs.Labels["rollouts-pod-template-hash"]] = rsState{Name: rs.Name, Spec: *rs.Spec.Replicas,
			Available: rs.Status.AvailableReplicas, Revision: rs.Annotations["rollout.argoproj.io/revision"]}
	}
	return out
}

func describeRS(m map[string]rsState) string {
	var parts []string
	for h, s := range m {
		parts = append(parts, fmt.Sprintf("%s(rev %s)=%d/%d", h, s.Revision, s.Spec, s.Available))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// expectCanary waits until the canary and stable ReplicaSets have exactly the
// given spec and available counts, the Rollout shows phase at step, and no
// other ReplicaSet has pods.
func expectCanary(t *testing.T, env *testenv.Env, ns, name string, canary, stable int32, phase v1alpha1.RolloutPhase, step int32) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		ro = getRollout(t, env, ns, name)
		rss := replicaSets(t, env, ns, name)
		st := ro.Status
		c, s, others := splitByRole(st, rss, func(r rsState) int32 { return r.Spec })
		idx := int32(-1)
		if st.CurrentStepIndex != nil {
			idx = *st.CurrentStepIndex
		}
		ok := c.Spec == canary && c.Available == canary && s.Spec == stable && s.Available == stable &&
			others == 0 && st.Phase == phase && idx == step && st.ObservedGeneration == fmt.Sprint(ro.Generation)
		return ok, fmt.Sprintf("want canary %d stable %d %s at step %d; have %s, phase %s %q, step %d",
			canary, stable, phase, step, describeRS(rss), st.Phase, st.Message, idx)
	})
	return ro
}

func patchStatus(t *testing.T, env *testenv.Env, ns, name, patch string) {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patching status %s: %v", patch, err)
	}
}

func patchSpec(t *testing.T, env *testenv.Env, obj client.Object, patch string) {
	t.Helper()
	if err := env.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patching %s: %v", patch, err)
	}
}

// The operator's verbs, as upstream's kubectl plugin patches them.
func promote(t *testing.T, env *testenv.Env, ns, name string) {
	patchStatus(t, env, ns, name, `{"status":{"pauseConditions":null}}`)
}
func promoteFull(t *testing.T, env *testenv.Env, ns, name string) {
	patchStatus(t, env, ns, name, `{"status":{"promoteFull":true}}`)
}
func abort(t *testing.T, env *testenv.Env, ns, name string) {
	patchStatus(t, env, ns, name, `{"status":{"abort":true}}`)
}
func retry(t *testing.T, env *testenv.Env, ns, name string) {
	patchStatus(t, env, ns, name, `{"status":{"abort":false}}`)
}

func condition(ro *v1alpha1.Rollout, typ v1alpha1.RolloutConditionType) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == typ {
			return &ro.Status.Conditions[i]
		}
	}
	return nil
}

// warningEvents lists Warning events about the named Rollout.
func warningEvents(t *testing.T, env *testenv.Env, ns, name string) []corev1.Event {
	t.Helper()
	list, err := env.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Rollout,involvedObject.name=" + name + ",type=Warning"})
	if err != nil {
		t.Fatalf("listing events: %v", err)
	}
	return list.Items
}

// splitByRole picks, out of a Rollout's ReplicaSets by pod hash, the current
// one, the stable one (zero when it is the current one) and the pods the
// others still ask for (spec returns a ReplicaSet's spec.replicas).
func splitByRole[T any](st v1alpha1.RolloutStatus, rss map[string]T, spec func(T) int32) (current, stable T, others int32) {
	current, stable = rss[st.CurrentPodHash], rss[st.StableRS]
	if st.StableRS == st.CurrentPodHash {
		var zero T
		stable = zero
	}
	for h, r := range rss {
		if h != st.CurrentPodHash && h != st.StableRS {
			others += spec(r)
		}
	}
	return current, stable, others
}

// passingTemplate creates AnalysisTemplate name with one web metric
// "health" against a local server that always answers {"status":"ok"}.
func passingTemplate(t *testing.T, env *testenv.Env, ns, name string) {
	t.Helper()
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) }))
	create(t, env, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "health", SuccessCondition: `result == "ok"`,
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: "{$.status}"}}}}}})
}
