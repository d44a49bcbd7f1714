package validation

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/analysis"
)

// metricNameRE is the CRD's pattern for spec.metrics[].name.
var metricNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// argRefRE finds {{args.NAME}} placeholders.
var argRefRE = regexp.MustCompile(`\{\{\s*args\.([^\s}]+)\s*\}\}`)

// maxMetrics is the CRD's limit on spec.metrics.
const maxMetrics = 64

// AnalysisTemplate returns every problem with the spec of an
// AnalysisTemplate or ClusterAnalysisTemplate, each naming its field: the
// CRD's rules (so a manifest can be checked without an API server) and those
// a schema cannot express — unique metric names, durations that parse,
// limits a metric can reach, {{args.NAME}} placeholders that name a declared
// argument.
func AnalysisTemplate(spec *v1alpha1.AnalysisTemplateSpec) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	args, e := arguments(spec.Args, p.Child("args"))
	errs = append(errs, e...)

	mp := p.Child("metrics")
	errs = append(errs, UnimplementedTemplateFields(spec)...)
	switch {
	case len(spec.Metrics) == 0 && len(spec.Templates) == 0:
		errs = append(errs, field.Required(mp, "at least one metric"))
	case len(spec.Metrics) > maxMetrics:
		errs = append(errs, field.TooMany(mp, len(spec.Metrics), maxMetrics))
	}
	names := sets.New[string]()
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		ip := mp.Index(i)
		if m.Name != "" && names.Has(m.Name) {
			errs = append(errs, field.Duplicate(ip.Child("name"), m.Name))
		}
		names.Insert(m.Name)
		errs = append(errs, metric(m, ip, args)...)
	}
	for i, d := range spec.DryRun {
		errs = append(errs, metricRef(d.MetricName, names, p.Child("dryRun").Index(i).Child("metricName"))...)
	}
	for i, r := range spec.MeasurementRetention {
		ip := p.Child("measurementRetention").Index(i)
		errs = append(errs, metricRef(r.MetricName, names, ip.Child("metricName"))...)
		if r.Limit < 0 {
			errs = append(errs, field.Invalid(ip.Child("limit"), r.Limit, "must be >= 0"))
		}
	}
	return errs
}

// arguments checks spec.args and returns the declared names.
func arguments(args []v1alpha1.Argument, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, a := range args {
		ip := p.Index(i)
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(ip.Child("name"), "every argument needs a name"))
		case names.Has(a.Name):
			errs = append(errs, field.Duplicate(ip.Child("name"), a.Name))
		}
		names.Insert(a.Name)
		if a.Value != nil && a.ValueFrom != nil {
			errs = append(errs, field.Invalid(ip.Child("valueFrom"), "value and valueFrom", "set value or valueFrom, not both"))
		}
		if vf := a.ValueFrom; vf != nil {
			vp := ip.Child("valueFrom")
			switch {
			case vf.SecretKeyRef == nil && vf.FieldRef == nil:
				errs = append(errs, field.Required(vp, "set secretKeyRef or fieldRef"))
			case vf.SecretKeyRef != nil && vf.FieldRef != nil:
				errs = append(errs, field.Invalid(vp, "secretKeyRef and fieldRef", "set secretKeyRef or fieldRef, not both"))
			}
			if s := vf.SecretKeyRef; s != nil {
				if s.Name == "" {
					errs = append(errs, field.Required(vp.Child("secretKeyRef", "name"), "the Secret to read"))
				}
				if s.Key == "" {
					errs = append(errs, field.Required(vp.Child("secretKeyRef", "key"), "the key of the Secret to read"))
				}
			}
			if f := vf.FieldRef; f != nil && f.FieldPath == "" {
				errs = append(errs, field.Required(vp.Child("fieldRef", "fieldPath"), "e.g. metadata.name"))
			}
		}
	}
	return names, errs
}

func metric(m *v1alpha1.Metric, p *field.Path, args sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	switch {
	case m.Name == "":
		errs = append(errs, field.Required(p.Child("name"), "every metric needs a name"))
	case !metricNameRE.MatchString(m.Name):
		errs = append(errs, field.Invalid(p.Child("name"), m.Name,
			"letters, digits, '-', '_' and '.', starting and ending with a letter or digit"))
	}
	_, e := durationField(m.Interval, p.Child("interval"))
	errs = append(errs, e...)
	_, e = durationField(m.InitialDelay, p.Child("initialDelay"))
	errs = append(errs, e...)
	for _, d := range []struct {
		name string
		v    v1alpha1.DurationString
	}{{"interval", m.Interval}, {"initialDelay", m.InitialDelay}} {
		if ref := argRefRE.FindStringSubmatch(string(d.v)); ref != nil && !args.Has(ref[1]) {
			errs = append(errs, field.Invalid(p.Child(d.name), string(d.v), fmt.Sprintf("argument %q is not declared in spec.args", ref[1])))
		}
	}

	count, e := countField(m.Count, p.Child("count"), args)
	errs = append(errs, e...)
	failureLimit, e := limitField(m.FailureLimit, p.Child("failureLimit"), args, -1)
	errs = append(errs, e...)
	successLimit, e := countField(m.ConsecutiveSuccessLimit, p.Child("consecutiveSuccessLimit"), args)
	errs = append(errs, e...)
	inconclusiveLimit, e := countField(m.InconclusiveLimit, p.Child("inconclusiveLimit"), args)
	errs = append(errs, e...)
	_, e = countField(m.ConsecutiveErrorLimit, p.Child("consecutiveErrorLimit"), args)
	errs = append(errs, e...)
	if count > 1 && m.Interval == "" {
		errs = append(errs, field.Required(p.Child("interval"), fmt.Sprintf("count is %d: measurements need an interval between them", count)))
	}
	if failureLimit == -1 && (m.ConsecutiveSuccessLimit == nil || successLimit == 0) {
		errs = append(errs, field.Invalid(p.Child("failureLimit"), failureLimit,
			"-1 disables failureLimit only together with consecutiveSuccessLimit > 0: otherwise nothing can end the metric"))
	}
	if count > 0 && successLimit > 0 && count < max(failureLimit, 0)+successLimit {
		errs = append(errs, field.Invalid(p.Child("count"), count,
			fmt.Sprintf("must be at least failureLimit + consecutiveSuccessLimit (%d + %d)", max(failureLimit, 0), successLimit)))
	}
	for _, c := range []struct{ name, cond string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if err := analysis.Compile(c.cond); err != nil {
			errs = append(errs, field.Invalid(p.Child(c.name), c.cond, "does not compile as an expr expression: "+err.Error()))
		}
	}
	if count > 0 && failureLimit > count {
		errs = append(errs, field.Invalid(p.Child("failureLimit"), failureLimit,
			fmt.Sprintf("must not exceed count (%d): the metric could never fail", count)))
	}
	if count > 0 && inconclusiveLimit > count {
		errs = append(errs, field.Invalid(p.Child("inconclusiveLimit"), inconclusiveLimit,
			fmt.Sprintf("must not exceed count (%d): the metric could never be inconclusive", count)))
	}

	pp := p.Child("provider")
	prov := m.Provider
	set := 0
	for _, b := range []bool{prov.Prometheus != nil, prov.Web != nil, prov.Job != nil, prov.Plugin != nil,
		prov.Kayenta != nil, prov.Datadog != nil, prov.Wavefront != nil, prov.NewRelic != nil, prov.CloudWatch != nil,
		prov.Graphite != nil, prov.Influxdb != nil, prov.SkyWalking != nil} {
		if b {
			set++
		}
	}
	switch set {
	case 0:
		errs = append(errs, field.Required(pp, "set one of prometheus, web, job or plugin"))
	case 1:
	default:
		errs = append(errs, field.Invalid(pp, fmt.Sprintf("%d providers", set), "set exactly one of prometheus, web, job or plugin"))
	}
	if m.SuccessCondition == "" && m.FailureCondition == "" && prov.Job == nil && prov.Kayenta == nil && prov.Plugin == nil {
		errs = append(errs, field.Required(p.Child("successCondition"),
			"a metric needs successCondition or failureCondition (a job metric may use neither)"))
	}
	if pr := prov.Prometheus; pr != nil {
		errs = append(errs, prometheus(pr, pp.Child("prometheus"))...)
	}
	if w := prov.Web; w != nil {
		errs = append(errs, web(w, pp.Child("web"))...)
	}
	if j := prov.Job; j != nil {
		errs = append(errs, job(j, pp.Child("job"))...)
	}
	errs = append(errs, argRefs(m, p, args)...)
	return errs
}

func prometheus(pr *v1alpha1.PrometheusMetric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, address(pr.Address, p.Child("address"))...)
	if strings.TrimSpace(pr.Query) == "" {
		errs = append(errs, field.Required(p.Child("query"), "the PromQL query"))
	}
	if pr.Timeout != nil && *pr.Timeout < 1 {
		errs = append(errs, field.Invalid(p.Child("timeout"), *pr.Timeout, "must be at least 1 (seconds)"))
	}
	errs = append(errs, headers(pr.Headers, p.Child("headers"))...)
	errs = append(errs, authentication(pr.Authentication, p.Child("authentication"))...)
	if rq := pr.RangeQuery; rq != nil {
		rp := p.Child("rangeQuery")
		if rq.Step != "" && !isPlaceholder(rq.Step) {
			if d, err := time.ParseDuration(rq.Step); err != nil || d <= 0 {
				errs = append(errs, field.Invalid(rp.Child("step"), rq.Step, "must be a duration with a unit, like 30s or 1m"))
			}
		}
		for _, b := range []struct{ name, v string }{{"start", rq.Start}, {"end", rq.End}} {
			if b.v != "" && !isPlaceholder(b.v) {
				if _, err := analysis.RangeTime(b.v, time.Now()); err != nil {
					errs = append(errs, field.Invalid(rp.Child(b.name), b.v, err.Error()))
				}
			}
		}
	}
	return errs
}

func web(w *v1alpha1.WebMetric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, address(w.URL, p.Child("url"))...)
	switch w.Method {
	case "", "GET", "POST", "PUT":
	default:
		errs = append(errs, field.NotSupported(p.Child("method"), w.Method, []string{"GET", "POST", "PUT"}))
	}
	if w.Body != "" && w.JSONBody != nil {
		errs = append(errs, field.Invalid(p.Child("jsonBody"), "body and jsonBody", "set body or jsonBody, not both"))
	}
	if (w.Body != "" || w.JSONBody != nil) && (w.Method == "" || w.Method == "GET") {
		errs = append(errs, field.Invalid(p.Child("method"), w.Method, "a request body needs method POST or PUT"))
	}
	if w.TimeoutSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("timeoutSeconds"), w.TimeoutSeconds, "must be >= 1"))
	}
	errs = append(errs, headers(w.Headers, p.Child("headers"))...)
	errs = append(errs, authentication(w.Authentication, p.Child("authentication"))...)
	return errs
}

// authentication checks a metric's authentication: one method, complete.
// sigv4 is refused by UnimplementedMetricFields.
func authentication(a *v1alpha1.Authentication, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	for _, b := range []bool{a.BasicAuth != nil, a.OAuth2 != nil, a.Sigv4 != nil} {
		if b {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, field.Invalid(p, fmt.Sprintf("%d methods", n), "set one of basicAuth, oauth2 or sigv4"))
	}
	if o := a.OAuth2; o != nil {
		op := p.Child("oauth2")
		errs = append(errs, address(o.TokenURL, op.Child("tokenUrl"))...)
		if o.ClientID == "" {
			errs = append(errs, field.Required(op.Child("clientId"), "the client-credentials grant needs a client id"))
		}
	}
	if b := a.BasicAuth; b != nil && b.Username == "" {
		errs = append(errs, field.Required(p.Child("basicAuth", "username"), ""))
	}
	return errs
}

// isPlaceholder reports a value made of one {{args.NAME}} placeholder,
// checked once the run fills it in.
func isPlaceholder(s string) bool {
	m := argRefRE.FindString(strings.TrimSpace(s))
	return m != "" && m == strings.TrimSpace(s)
}

func job(j *v1alpha1.JobMetric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	tp := p.Child("spec", "template", "spec")
	ps := j.Spec.Template.Spec
	if len(ps.Containers) == 0 {
		errs = append(errs, field.Required(tp.Child("containers"), "a Job pod needs at least one container"))
	}
	switch ps.RestartPolicy {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	case "":
		errs = append(errs, field.Required(tp.Child("restartPolicy"), "a Job pod needs restartPolicy Never or OnFailure"))
	default:
		errs = append(errs, field.NotSupported(tp.Child("restartPolicy"), ps.RestartPolicy, []string{"Never", "OnFailure"}))
	}
	return errs
}

// address checks a URL; one made of {{args...}} placeholders is checked when
// the run resolves it.
func address(s string, p *field.Path) field.ErrorList {
	if strings.TrimSpace(s) == "" {
		return field.ErrorList{field.Required(p, "e.g. http://prometheus.monitoring:9090")}
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{{") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return field.ErrorList{field.Invalid(p, s, "must be an http:// or https:// URL with a host")}
	}
	return nil
}

func headers(hs []v1alpha1.WebMetricHeader, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, h := range hs {
		if h.Key == "" {
			errs = append(errs, field.Required(p.Index(i).Child("key"), "the header's name"))
		}
	}
	return errs
}

// durationField parses a Go duration (30s, 5m, 1h30m); "" is unset.
func durationField(s v1alpha1.DurationString, p *field.Path) (time.Duration, field.ErrorList) {
	if s == "" || isPlaceholder(string(s)) {
		return 0, nil
	}
	d, err := time.ParseDuration(string(s))
	if err != nil || d < 0 {
		return 0, field.ErrorList{field.Invalid(p, string(s), "must be a duration with a unit, like 30s, 5m or 1h30m")}
	}
	return d, nil
}

// countField checks a count or limit: a non-negative integer, as a number or
// a string of digits, or one {{args.NAME}} placeholder naming a declared
// argument. It returns the value, or -1 when it is not known offline.
func countField(v *intstr.IntOrString, p *field.Path, args sets.Set[string]) (int, field.ErrorList) {
	return limitField(v, p, args, 0)
}

// limitField is countField with a lowest allowed value (failureLimit takes
// -1: disabled). A value not known offline is returned as -2.
func limitField(v *intstr.IntOrString, p *field.Path, args sets.Set[string], lowest int) (int, field.ErrorList) {
	unknown := min(lowest, 0) - 1
	if v == nil {
		return unknown, nil
	}
	tooLow := "must be >= 0"
	if lowest < 0 {
		tooLow = "must be >= 0, or -1 to disable it"
	}
	if v.Type == intstr.Int {
		if int(v.IntVal) < lowest {
			return unknown, field.ErrorList{field.Invalid(p, v.IntVal, tooLow)}
		}
		return int(v.IntVal), nil
	}
	s := strings.TrimSpace(v.StrVal)
	if n, err := strconv.Atoi(s); err == nil {
		if n < lowest {
			return unknown, field.ErrorList{field.Invalid(p, v.StrVal, tooLow)}
		}
		return n, nil
	}
	if m := argRefRE.FindStringSubmatch(s); m != nil && m[0] == s {
		if !args.Has(m[1]) {
			return unknown, field.ErrorList{field.Invalid(p, v.StrVal, fmt.Sprintf("argument %q is not declared in spec.args", m[1]))}
		}
		return unknown, nil
	}
	return unknown, field.ErrorList{field.Invalid(p, v.StrVal, "must be a non-negative integer or an {{args.NAME}} placeholder")}
}

// argRefs reports {{args.NAME}} placeholders in the provider that name no
// declared argument: the run would fail to resolve them.
func argRefs(m *v1alpha1.Metric, p *field.Path, args sets.Set[string]) field.ErrorList {
	b, err := json.Marshal(m.Provider)
	if err != nil {
		return nil
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for _, ref := range argRefRE.FindAllStringSubmatch(string(b), -1) {
		name := ref[1]
		if args.Has(name) || seen.Has(name) {
			continue
		}
		seen.Insert(name)
		errs = append(errs, field.Invalid(p.Child("provider"), ref[0], fmt.Sprintf("argument %q is not declared in spec.args", name)))
	}
	return errs
}

// metricRef checks a dryRun or measurementRetention metric name: "*", a
// metric's name, or a regular expression matching at least one.
func metricRef(name string, metrics sets.Set[string], p *field.Path) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, `a metric name, or "*" for all`)}
	case name == "*" || metrics.Has(name):
		return nil
	}
	re, err := regexp.Compile("^(?:" + name + ")$")
	if err == nil {
		for n := range metrics {
			if re.MatchString(n) {
				return nil
			}
		}
	}
	return field.ErrorList{field.Invalid(p, name, "names no metric of spec.metrics")}
}
