package doctor

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/gatewayapi"
	"github.com/sluice-dev/sluice/internal/validation"
)

// checkRoute: the Gateway API must be installed and the route must exist.
func checkRoute(s Snapshot, ro *v1alpha1.Rollout, obj string, raw []byte) []Finding {
	cfg, err := gatewayapi.ParseConfig(raw)
	if err != nil {
		return []Finding{{Severity: Error, Object: obj, Check: "traffic router", Message: gatewayapi.Field + ": " + err.Error(),
			Fix: "fix the plugin config (sluice lint -f FILE checks it offline)"}}
	}
	if s.HTTPRoutes == nil {
		return []Finding{{Severity: Error, Object: obj, Check: "traffic router",
			Message: "the Gateway API (gateway.networking.k8s.io/v1 HTTPRoute) is not installed, but the Rollout routes through it",
			Fix:     "install the Gateway API CRDs, or remove spec.strategy.canary.trafficRouting"}}
	}
	ns := ro.Namespace
	if cfg.Namespace != "" {
		ns = cfg.Namespace
	}
	names := []string{}
	if cfg.HTTPRoute != "" {
		names = append(names, cfg.HTTPRoute)
	}
	for _, r := range cfg.HTTPRoutes {
		names = append(names, r.Name)
	}
	var out []Finding
	c := ro.Spec.Strategy.Canary
	for _, n := range names {
		rt := s.HTTPRoutes[key(ns, n)]
		if rt == nil {
			out = append(out, Finding{Severity: Error, Object: obj, Check: "traffic router",
				Message: fmt.Sprintf("HTTPRoute %q (namespace %q) named by the gatewayAPI plugin does not exist", n, ns),
				Fix:     "create it with backendRefs to the stable and canary Services, or fix the name"})
		} else if err := gatewayapi.CheckRoute(rt, c.StableService, c.CanaryService); err != nil {
			out = append(out, Finding{Severity: Error, Object: obj, Check: "traffic router", Message: err.Error(),
				Fix: "add both Services to the backendRefs of the rule that should carry the canary"})
		}
	}
	return out
}

// analysisRefs lists where the Rollout asks for analysis.
func analysisRefs(ro *v1alpha1.Rollout) map[string]*v1alpha1.RolloutAnalysis {
	refs := map[string]*v1alpha1.RolloutAnalysis{}
	if c := ro.Spec.Strategy.Canary; c != nil {
		for i := range c.Steps {
			if a := c.Steps[i].Analysis; a != nil {
				refs[fmt.Sprintf("spec.strategy.canary.steps[%d].analysis", i)] = a
			}
		}
		if c.Analysis != nil {
			refs["spec.strategy.canary.analysis"] = &c.Analysis.RolloutAnalysis
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		if bg.PrePromotionAnalysis != nil {
			refs["spec.strategy.blueGreen.prePromotionAnalysis"] = bg.PrePromotionAnalysis
		}
		if bg.PostPromotionAnalysis != nil {
			refs["spec.strategy.blueGreen.postPromotionAnalysis"] = bg.PostPromotionAnalysis
		}
	}
	return refs
}

// checkAnalysis: the templates exist (else the update waits forever), their
// error-rate queries count 4xx (seed bug #4), and their metrics have data
// now (seed bug #5).
func checkAnalysis(ctx context.Context, s Snapshot, ro *v1alpha1.Rollout, obj string, probe MetricProbe) []Finding {
	refs := analysisRefs(ro)
	fields := make([]string, 0, len(refs))
	for f := range refs {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var out []Finding
	seen := map[string]bool{}
	for _, field := range fields {
		a := refs[field]
		for _, t := range a.Templates {
			var spec *v1alpha1.AnalysisTemplateSpec
			kind := "AnalysisTemplate"
			if t.ClusterScope {
				kind = "ClusterAnalysisTemplate"
				if ct := s.ClusterTemplates[t.TemplateName]; ct != nil {
					spec = &ct.Spec
				}
			} else if at := s.Templates[key(ro.Namespace, t.TemplateName)]; at != nil {
				spec = &at.Spec
			}
			if spec == nil {
				out = append(out, Finding{Severity: Error, Object: obj, Check: "analysis template",
					Message: fmt.Sprintf("%s %q (%s) does not exist: the update will wait at that point", kind, t.TemplateName, field),
					Fix:     "create it, or fix templateName"})
				continue
			}
			if seen[kind+"/"+t.TemplateName] {
				continue
			}
			seen[kind+"/"+t.TemplateName] = true
			out = append(out, checkMetrics(ctx, obj, kind, t.TemplateName, spec, a.Args, probe)...)
		}
	}
	return out
}

func checkMetrics(ctx context.Context, obj, kind, name string, spec *v1alpha1.AnalysisTemplateSpec, args []v1alpha1.AnalysisRunArgument, probe MetricProbe) []Finding {
	var out []Finding
	for _, e := range validation.UnimplementedTemplateFields(spec) {
		out = append(out, Finding{Severity: Error, Object: obj, Check: "fields",
			Message: fmt.Sprintf("%s %q: %s %s", kind, name, e.Field, e.Detail),
			Fix:     "remove it, or leave this analysis to Argo Rollouts (docs/fields.md)"})
	}
	for _, m := range spec.Metrics {
		p := m.Provider.Prometheus
		if p == nil {
			continue
		}
		where := fmt.Sprintf("%s %q metric %q", kind, name, m.Name)
		if why := ignoresClientErrors(p.Query); why != "" {
			out = append(out, Finding{Severity: Warning, Object: obj, Check: "seed bug #4: error-rate query",
				Message: where + " counts " + why + " as errors: a canary answering every request with 404 or 429 passes as healthy",
				Fix:     `count everything that is not a success: status!~"2..|3.."`})
		}
		if probe == nil {
			continue
		}
		q, missing := fillArgs(p.Query, spec.Args, args)
		addr, missingAddr := fillArgs(p.Address, spec.Args, args)
		if missing = append(missing, missingAddr...); len(missing) > 0 {
			out = append(out, Finding{Severity: OK, Object: obj, Check: "seed bug #5: metric data",
				Message: fmt.Sprintf("%s not run now: args %s get their values at run time", where, strings.Join(missing, ", "))})
			continue
		}
		n, err := probe(ctx, addr, q)
		switch {
		case err != nil:
			out = append(out, Finding{Severity: Warning, Object: obj, Check: "seed bug #5: metric data",
				Message: fmt.Sprintf("%s could not be run from here against %s: %v", where, addr, err),
				Fix:     "run doctor where the Prometheus address resolves (in the cluster), or check the address"})
		case n == 0:
			out = append(out, Finding{Severity: Warning, Object: obj, Check: "seed bug #5: metric data",
				Message: fmt.Sprintf("%s returns no data now (%s): its analysis would be Inconclusive; is the metric exported, and is there traffic?", where, q),
				Fix:     "check the metric exists (sluice exporter turns an access log into it), or send traffic (sluice probe)"})
		default:
			out = append(out, Finding{Severity: OK, Object: obj, Check: "seed bug #5: metric data",
				Message: fmt.Sprintf("%s returns %d sample(s) now", where, n)})
		}
	}
	return out
}

// serverErrorsOnly matches a status-code label selected to 5xx only.
var serverErrorsOnly = regexp.MustCompile(`(?i)\b(status|code|status_code|response_code|http_status|http_code)\s*=~?\s*"5`)

// ignoresClientErrors says which codes a query counts as errors when it
// counts only server errors ("" when it does not look like that).
func ignoresClientErrors(query string) string {
	m := serverErrorsOnly.FindString(query)
	if m == "" {
		return ""
	}
	return "only server errors (" + m + `..." selects 5xx)`
}

var argRef = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}`)

// fillArgs substitutes {{args.NAME}} with literal values from the
// Rollout's args or the template's defaults, and names the ones left.
func fillArgs(q string, tmpl []v1alpha1.Argument, given []v1alpha1.AnalysisRunArgument) (string, []string) {
	vals := map[string]string{}
	for _, a := range tmpl {
		if a.Value != nil {
			vals[a.Name] = *a.Value
		}
	}
	for _, a := range given {
		if a.Value != "" {
			vals[a.Name] = a.Value
		} else {
			delete(vals, a.Name)
		}
	}
	var missing []string
	out := argRef.ReplaceAllStringFunc(q, func(m string) string {
		name := argRef.FindStringSubmatch(m)[1]
		if v, ok := vals[name]; ok {
			return v
		}
		missing = append(missing, name)
		return m
	})
	return out, missing
}
