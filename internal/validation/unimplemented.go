package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// This file is the one list of Rollout fields Sluice's CRD accepts (so an
// upstream manifest round-trips, see api/v1alpha1/crd_parity_test.go) but
// this version does not carry out. The controller holds a Rollout that sets
// any of them (Degraded, reason FieldNotSupported) and `kubectl sluice lint`
// and `doctor` report them: a field is never silently ignored. When a field
// is implemented, remove its line here; docs/fields.md lists the same set.

// NotImplementedDetail ends the message of every field listed here.
const NotImplementedDetail = "is not implemented by this version of Sluice; remove it or run it with Argo Rollouts"

// UnimplementedRolloutFields names every field ro sets that Sluice accepts
// but does not carry out, each as a field.Forbidden error on its path.
func UnimplementedRolloutFields(ro *v1alpha1.Rollout) field.ErrorList {
	spec := &ro.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	add := func(set bool, path *field.Path) {
		if set {
			errs = append(errs, field.Forbidden(path, NotImplementedDetail))
		}
	}

	if c := spec.Strategy.Canary; c != nil {
		cp := p.Child("strategy", "canary")
		// Both work with a traffic router (as upstream, which ignores them without one).
		add(c.MinPodsPerReplicaSet != nil && c.TrafficRouting == nil, cp.Child("minPodsPerReplicaSet"))
		add(c.ScaleDownDelayRevisionLimit != nil && c.TrafficRouting == nil, cp.Child("scaleDownDelayRevisionLimit"))
		add(c.DynamicStableScale, cp.Child("dynamicStableScale"))
		add(c.PingPong != nil, cp.Child("pingPong"))
		add(c.ReplicaProgressThreshold != nil, cp.Child("replicaProgressThreshold"))
		for i := range c.Steps {
			s := &c.Steps[i]
			sp := cp.Child("steps").Index(i)
			add(s.Experiment != nil, sp.Child("experiment"))
			add(s.Plugin != nil, sp.Child("plugin"))
		}
	}
	// Every blue-green field is carried.
	return errs
}

// UnimplementedMetricFields names what metric m (at path p, e.g.
// spec.metrics[2]) asks for that Sluice cannot measure: a provider other
// than prometheus, web and job, and AWS SigV4 signing. A run that has such a
// metric ends in Error with this message; the template is refused by the
// Rollout controller and by lint before any run is made.
func UnimplementedMetricFields(m *v1alpha1.Metric, p *field.Path) field.ErrorList {
	pp := p.Child("provider")
	var errs field.ErrorList
	prov := &m.Provider
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"plugin", len(prov.Plugin) > 0},
		{"kayenta", prov.Kayenta != nil},
		{"datadog", prov.Datadog != nil},
		{"wavefront", prov.Wavefront != nil},
		{"newRelic", prov.NewRelic != nil},
		{"cloudWatch", prov.CloudWatch != nil},
		{"graphite", prov.Graphite != nil},
		{"influxdb", prov.Influxdb != nil},
		{"skywalking", prov.SkyWalking != nil},
	} {
		if o.set {
			errs = append(errs, field.Forbidden(pp.Child(o.name),
				"metric provider "+o.name+" "+NotImplementedDetail+" (Sluice measures prometheus, web and job)"))
		}
	}
	if pr := prov.Prometheus; pr != nil && pr.Authentication != nil && pr.Authentication.Sigv4 != nil {
		errs = append(errs, field.Forbidden(pp.Child("prometheus", "authentication", "sigv4"), NotImplementedDetail+
			" (use basicAuth, oauth2 or headers)"))
	}
	if w := prov.Web; w != nil && w.Authentication != nil && w.Authentication.Sigv4 != nil {
		errs = append(errs, field.Forbidden(pp.Child("web", "authentication", "sigv4"), NotImplementedDetail+
			" (use basicAuth, oauth2 or headers)"))
	}
	return errs
}

// UnimplementedTemplateFields names what an AnalysisTemplate or
// ClusterAnalysisTemplate spec sets that Sluice does not carry out,
// including its metrics' providers.
func UnimplementedTemplateFields(spec *v1alpha1.AnalysisTemplateSpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if len(spec.Templates) > 0 {
		errs = append(errs, field.Forbidden(p.Child("templates"), "nested templates "+NotImplementedDetail+
			" (list the templates in the Rollout's analysis instead: their metrics are merged the same way)"))
	}
	for i := range spec.Metrics {
		errs = append(errs, UnimplementedMetricFields(&spec.Metrics[i], p.Child("metrics").Index(i))...)
	}
	return errs
}
