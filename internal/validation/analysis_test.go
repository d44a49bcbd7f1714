package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func strp(s string) *string { return &s }

// goodTemplate is the seeds' error-rate template (with the 4xx-aware query).
func goodTemplate() *v1alpha1.AnalysisTemplateSpec {
	count, limit := intstr.FromInt32(5), intstr.FromInt32(3)
	return &v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.Argument{{Name: "service", Value: strp("litellm")}},
		Metrics: []v1alpha1.Metric{{
			Name: "error-rate", Interval: "1m", Count: &count, InconclusiveLimit: &limit,
			SuccessCondition: "result[0] < 0.05", FailureCondition: "result[0] >= 0.05",
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
				Address: "http://vmsingle.monitoring.svc.cluster.local:8428",
				Query:   `sum(rate(litellm_request_total{service="{{args.service}}",status!~"2..|3.."}[5m])) / sum(rate(litellm_request_total[5m]))`,
			}},
		}},
	}
}

func TestAnalysisTemplateErrorsNameTheField(t *testing.T) {
	str := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.AnalysisTemplateSpec)
		field string
	}{
		{"valid", func(*v1alpha1.AnalysisTemplateSpec) {}, ""},
		{"no metrics", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics = nil }, "spec.metrics: Required"},
		{"duplicate", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics = append(s.Metrics, s.Metrics[0]) }, "spec.metrics[1].name: Duplicate"},
		{"bad name", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].Name = "error rate" }, "spec.metrics[0].name"},
		{"interval", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].Interval = "1 minute" }, "spec.metrics[0].interval"},
		{"initialDelay", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].InitialDelay = "-5s" }, "spec.metrics[0].initialDelay"},
		{"count arg ok", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].Count = str("{{args.service}}") }, ""},
		{"count arg undeclared", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].Count = str("{{ args.n }}") }, "spec.metrics[0].count"},
		{"consecutiveErrorLimit", func(s *v1alpha1.AnalysisTemplateSpec) {
			v := intstr.FromInt32(-1)
			s.Metrics[0].ConsecutiveErrorLimit = &v
		}, "spec.metrics[0].consecutiveErrorLimit"},
		{"inconclusive over count", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].InconclusiveLimit = str("9") }, "spec.metrics[0].inconclusiveLimit"},
		{"no conditions", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].SuccessCondition, s.Metrics[0].FailureCondition = "", ""
		}, "spec.metrics[0].successCondition"},
		// Issue 16 #12: conditions compile when the template is validated.
		{"successCondition does not compile", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].SuccessCondition = "result[0] <" },
			"spec.metrics[0].successCondition"},
		{"failureCondition unknown function", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].FailureCondition = "isNan(result[0])" },
			"spec.metrics[0].failureCondition"},
		{"condition with an arg placeholder", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].SuccessCondition = "result[0] < {{args.service}}"
		}, ""},
		{"failureLimit -1 alone", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].FailureLimit = str("-1") }, "spec.metrics[0].failureLimit"},
		{"failureLimit -1 with consecutiveSuccessLimit", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].FailureLimit, s.Metrics[0].ConsecutiveSuccessLimit = str("-1"), str("3")
		}, ""},
		{"failureLimit -2", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].FailureLimit, s.Metrics[0].ConsecutiveSuccessLimit = str("-2"), str("3")
		}, "spec.metrics[0].failureLimit"},
		{"count below failureLimit + consecutiveSuccessLimit", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].FailureLimit, s.Metrics[0].ConsecutiveSuccessLimit = str("2"), str("4")
		}, "spec.metrics[0].count"},
		{"query", func(s *v1alpha1.AnalysisTemplateSpec) { s.Metrics[0].Provider.Prometheus.Query = " " }, "spec.metrics[0].provider.prometheus.query"},
		{"arg both", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Args[0].ValueFrom = &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.name"}}
		}, "spec.args[0].valueFrom"},
		{"secret key", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Args[0].Value = nil
			s.Args[0].ValueFrom = &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "token"}}
		}, "spec.args[0].valueFrom.secretKeyRef.key"},
		{"undeclared arg in query", func(s *v1alpha1.AnalysisTemplateSpec) { s.Args = nil }, `argument "service" is not declared`},
		{"retention", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.MeasurementRetention = []v1alpha1.MeasurementRetention{{MetricName: "error-.*", Limit: -1}}
		}, "spec.measurementRetention[0].limit"},
		{"dryRun regexp ok", func(s *v1alpha1.AnalysisTemplateSpec) { s.DryRun = []v1alpha1.DryRun{{MetricName: "error-.*"}} }, ""},
		{"web body on GET", func(s *v1alpha1.AnalysisTemplateSpec) {
			s.Metrics[0].Provider = v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://web/healthz", Body: "{}"}}
		}, "spec.metrics[0].provider.web.method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goodTemplate()
			tc.edit(s)
			errs := AnalysisTemplate(s)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.field) {
				t.Fatalf("want an error naming %q, got %v", tc.field, errs)
			}
		})
	}
}
