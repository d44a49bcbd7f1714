package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
)

func TestUnimplementedRolloutFieldsNameEachField(t *testing.T) {
	if errs := UnimplementedRolloutFields(good()); len(errs) != 0 {
		t.Fatalf("a plain canary: %v", errs)
	}
	ro := good()
	c := ro.Spec.Strategy.Canary
	md := &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "canary"}}
	ro.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 2}
	c.CanaryMetadata, c.StableMetadata = md, md
	c.MinPodsPerReplicaSet, c.ScaleDownDelayRevisionLimit = i32(2), i32(1)
	c.AntiAffinity = &v1alpha1.AntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1alpha1.RequiredAntiAffinity{}}
	c.DynamicStableScale = true
	c.PingPong = &v1alpha1.PingPongSpec{PingService: "ping", PongService: "pong"}
	c.ReplicaProgressThreshold = &v1alpha1.ReplicaProgressThreshold{Type: "Pods", Value: 1}
	c.Steps = append(c.Steps, v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{}})
	got := UnimplementedRolloutFields(ro).ToAggregate().Error()
	for _, want := range []string{
		"spec.strategy.canary.minPodsPerReplicaSet", "spec.strategy.canary.scaleDownDelayRevisionLimit",
		"spec.strategy.canary.dynamicStableScale", "spec.strategy.canary.pingPong",
		"spec.strategy.canary.replicaProgressThreshold", "spec.strategy.canary.steps[2].experiment",
		"is not implemented by this version of Sluice; remove it or run it with Argo Rollouts"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %s", want, got)
		}
	}

	bg := good()
	bg.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "a",
		ActiveMetadata: md, PreviewMetadata: md, ScaleDownDelayRevisionLimit: i32(1),
		AntiAffinity: &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredAntiAffinity{Weight: 50}}}}
	bg.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 2}
	if errs := UnimplementedRolloutFields(bg); len(errs) != 0 {
		t.Errorf("blue-green carries its metadata, antiAffinity, scaleDownDelayRevisionLimit and rollbackWindow: %v", errs)
	}
	// With a traffic router the canary carries minPodsPerReplicaSet and
	// scaleDownDelayRevisionLimit; without one (upstream ignores them there) they are refused.
	routed := good()
	routed.Spec.Strategy.Canary.MinPodsPerReplicaSet, routed.Spec.Strategy.Canary.ScaleDownDelayRevisionLimit = i32(2), i32(1)
	routed.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.TrafficRouting{}
	if got := UnimplementedRolloutFields(routed).ToAggregate(); got != nil {
		t.Errorf("routed canary: %v", got)
	}
}

func TestTemplatesRefuseUnimplementedProvidersAndNesting(t *testing.T) {
	tmpl := goodTemplate()
	tmpl.Metrics = append(tmpl.Metrics, v1alpha1.Metric{Name: "dd", SuccessCondition: "result < 1",
		Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{Query: "avg:x"}}})
	tmpl.Metrics[0].Provider.Prometheus.Authentication = &v1alpha1.Authentication{Sigv4: &v1alpha1.Sigv4Config{Region: "eu-west-1"}}
	tmpl.Templates = []v1alpha1.AnalysisTemplateRef{{TemplateName: "base"}}
	got := AnalysisTemplate(tmpl).ToAggregate().Error()
	for _, want := range []string{"spec.metrics[1].provider.datadog", "spec.metrics[0].provider.prometheus.authentication.sigv4", "spec.templates"} {
		if !strings.Contains(got, want) || !strings.Contains(got, "not implemented") {
			t.Errorf("missing %q in %s", want, got)
		}
	}
}

// Upstream accepts these; so does Sluice.
func TestLeniencyUpstreamAccepts(t *testing.T) {
	ro := good()
	one, zero := intstr.FromString("1"), intstr.FromString("0")
	ro.Spec.Strategy.Canary.MaxSurge, ro.Spec.Strategy.Canary.MaxUnavailable = &one, &zero
	if errs := Rollout(ro); len(errs) != 0 {
		t.Errorf(`maxSurge "1" (a digit string, read as a percentage as upstream does): %v`, errs)
	}
	ro.Spec.Strategy.Canary.MaxSurge = &zero
	if errs := Rollout(ro); len(errs) == 0 {
		t.Errorf(`maxSurge "0" and maxUnavailable "0" must still be refused`)
	}

	tmpl := goodTemplate()
	tmpl.Args = append(tmpl.Args, v1alpha1.Argument{Name: "delay"}, v1alpha1.Argument{Name: "count"}, v1alpha1.Argument{Name: "limit"})
	m := &tmpl.Metrics[0]
	cnt, lim := intstr.FromString("{{args.count}}"), intstr.FromString("{{ args.limit }}")
	m.InitialDelay, m.Count, m.FailureLimit, m.InconclusiveLimit = "{{args.delay}}", &cnt, &lim, nil
	if errs := AnalysisTemplate(tmpl); len(errs) != 0 {
		t.Fatalf("templated initialDelay/count/failureLimit: %v", errs)
	}
	m.InitialDelay = "{{args.nodelay}}"
	if errs := AnalysisTemplate(tmpl); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), `spec.metrics[0].initialDelay`) {
		t.Fatalf("an undeclared argument must be named: %v", errs)
	}
	// The run fills them in.
	m.InitialDelay = "{{args.delay}}"
	res, err := analysis.Substitute(*m, map[string]string{"delay": "30s", "count": "4", "limit": "2", "service": "x"})
	if err != nil || res.InitialDelay != "30s" || res.Count.String() != "4" || res.FailureLimit.String() != "2" {
		t.Fatalf("substituted: %+v %v", res, err)
	}
}

func TestRangeQueryAndAuthenticationAreChecked(t *testing.T) {
	tmpl := goodTemplate()
	p := tmpl.Metrics[0].Provider.Prometheus
	p.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("5m")`, End: "now()", Step: "1m"}
	p.Authentication = &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: "https://idp/token", ClientID: "c"}}
	if errs := AnalysisTemplate(tmpl); len(errs) != 0 {
		t.Fatalf("valid rangeQuery and oauth2: %v", errs)
	}
	p.RangeQuery.Step, p.RangeQuery.Start = "often", "yesterday("
	p.Authentication.OAuth2.TokenURL = "idp"
	got := AnalysisTemplate(tmpl).ToAggregate().Error()
	for _, want := range []string{"rangeQuery.step", "rangeQuery.start", "authentication.oauth2.tokenUrl"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %s", want, got)
		}
	}
}
