// Package validation re-checks Rollouts and analysis templates with the same
// rules the CRD schema enforces, plus those a schema cannot express (selector
// against template labels, durations, percentages). The controller runs it on
// every reconcile and `sluice lint` runs it offline: an object that slipped
// past the API server (older CRD, disabled validation) is still caught, and
// every error names the field.
package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/istio"
	"github.com/sluice-dev/sluice/internal/router/routers"
)

// Rollout returns every problem with ro's spec, each naming its field.
func Rollout(ro *v1alpha1.Rollout) field.ErrorList {
	spec := &ro.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList

	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *spec.Replicas, "must be >= 0"))
	}
	switch {
	case spec.Template == nil && spec.WorkloadRef == nil:
		errs = append(errs, field.Required(p.Child("template"), "exactly one of spec.template or spec.workloadRef must be set"))
	case spec.Template != nil && spec.WorkloadRef != nil:
		errs = append(errs, field.Forbidden(p.Child("template"), "exactly one of spec.template or spec.workloadRef must be set"))
	case spec.Template != nil:
		errs = append(errs, selectorMatchesTemplate(spec.Selector, spec.Template.Labels, p)...)
		if len(spec.Template.Spec.Containers) == 0 {
			errs = append(errs, field.Required(p.Child("template", "spec", "containers"), "a pod needs at least one container"))
		}
	default:
		errs = append(errs, workloadRef(spec.WorkloadRef, p.Child("workloadRef"))...)
	}
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), spec.MinReadySeconds, "must be >= 0"))
	}
	if spec.ProgressDeadlineSeconds != nil && *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
		errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds,
			"must be greater than spec.minReadySeconds"))
	}
	if spec.RevisionHistoryLimit != nil && *spec.RevisionHistoryLimit < 0 {
		errs = append(errs, field.Invalid(p.Child("revisionHistoryLimit"), *spec.RevisionHistoryLimit, "must be >= 0"))
	}

	sp := p.Child("strategy")
	switch c, bg := spec.Strategy.Canary, spec.Strategy.BlueGreen; {
	case c == nil && bg == nil:
		errs = append(errs, field.Required(sp, "exactly one of spec.strategy.canary or spec.strategy.blueGreen must be set"))
	case c != nil && bg != nil:
		errs = append(errs, field.Forbidden(sp.Child("blueGreen"), "exactly one of spec.strategy.canary or spec.strategy.blueGreen must be set"))
	case c != nil:
		errs = append(errs, canary(c, sp.Child("canary"))...)
		if len(errs) == 0 {
			errs = append(errs, routers.Validate(ro)...) // builds on a valid spec
		}
	default:
		errs = append(errs, blueGreen(bg, sp.Child("blueGreen"))...)
	}
	return errs
}

func selectorMatchesTemplate(sel *metav1.LabelSelector, tmplLabels map[string]string, p *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(p.Child("selector"), "required when spec.template is set")}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(p.Child("selector"), sel, err.Error())}
	}
	if s.Empty() {
		return field.ErrorList{field.Invalid(p.Child("selector"), sel, "an empty selector would select every pod in the namespace")}
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		return field.ErrorList{field.Invalid(p.Child("template", "metadata", "labels"), tmplLabels,
			fmt.Sprintf("must match spec.selector %q", s.String()))}
	}
	return nil
}

func workloadRef(w *v1alpha1.WorkloadRef, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if w.APIVersion != "apps/v1" {
		errs = append(errs, field.NotSupported(p.Child("apiVersion"), w.APIVersion, []string{"apps/v1"}))
	}
	if w.Kind != "Deployment" {
		errs = append(errs, field.NotSupported(p.Child("kind"), w.Kind, []string{"Deployment"}))
	}
	if w.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "the Deployment to take the pod template from"))
	}
	switch w.ScaleDown {
	case "", v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively:
	default:
		errs = append(errs, field.NotSupported(p.Child("scaleDown"), w.ScaleDown,
			[]string{v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively}))
	}
	return errs
}

func canary(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	surgeZero, errs1 := intOrPercent(c.MaxSurge, p.Child("maxSurge"))
	unavailZero, errs2 := intOrPercent(c.MaxUnavailable, p.Child("maxUnavailable"))
	errs = append(append(errs, errs1...), errs2...)
	if surgeZero && unavailZero {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), c.MaxUnavailable.String(),
			"maxSurge and maxUnavailable cannot both be 0"))
	}
	if c.TrafficRouting != nil && (c.StableService == "" || c.CanaryService == "") && !istio.SubsetLevel(c.TrafficRouting) {
		errs = append(errs, field.Required(p.Child("stableService"), "trafficRouting needs both stableService and canaryService"))
	}
	if c.TrafficRouting != nil && c.StableService != "" && c.StableService == c.CanaryService {
		errs = append(errs, field.Invalid(p.Child("canaryService"), c.CanaryService,
			"must differ from stableService: the router splits traffic between the two"))
	}
	errs = append(errs, managedRoutes(c, p)...)
	for i := range c.Steps {
		sp := p.Child("steps").Index(i)
		errs = append(errs, step(&c.Steps[i], sp, maxWeight(c))...)
		if c.Steps[i].SetCanaryScale != nil && c.TrafficRouting == nil {
			errs = append(errs, field.Forbidden(sp.Child("setCanaryScale"),
				"needs spec.strategy.canary.trafficRouting; without a router the weight is carried by pod counts"))
		}
	}
	if c.Analysis != nil {
		errs = append(errs, analysisRef(&c.Analysis.RolloutAnalysis, p.Child("analysis"))...)
		if s := c.Analysis.StartingStep; s != nil && (*s < 0 || int(*s) > len(c.Steps)) {
			errs = append(errs, field.Invalid(p.Child("analysis", "startingStep"), *s,
				fmt.Sprintf("must be between 0 and the number of steps (%d)", len(c.Steps))))
		}
	}
	return errs
}

func step(s *v1alpha1.CanaryStep, p *field.Path, maxWeight int32) field.ErrorList {
	var errs field.ErrorList
	set := 0
	for _, b := range []bool{s.SetWeight != nil, s.Pause != nil, s.Analysis != nil, s.SetCanaryScale != nil,
		s.Experiment != nil, s.SetHeaderRoute != nil, s.SetMirrorRoute != nil, s.Plugin != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, field.Invalid(p, fmt.Sprintf("%d actions", set),
			"each canary step must set exactly one of setWeight, pause, analysis, setCanaryScale, experiment, setHeaderRoute, setMirrorRoute, plugin"))
	}
	if w := s.SetWeight; w != nil && (*w < 0 || *w > maxWeight) {
		msg := "must be between 0 and 100"
		if maxWeight != 100 {
			msg = fmt.Sprintf("must be between 0 and %d (spec.strategy.canary.trafficRouting.maxTrafficWeight)", maxWeight)
		}
		errs = append(errs, field.Invalid(p.Child("setWeight"), *w, msg))
	}
	if s.Pause != nil && s.Pause.Duration != nil {
		if _, err := PauseDuration(s.Pause.Duration); err != nil {
			errs = append(errs, field.Invalid(p.Child("pause", "duration"), s.Pause.Duration.String(), err.Error()))
		}
	}
	if cs := s.SetCanaryScale; cs != nil {
		n := 0
		for _, b := range []bool{cs.Weight != nil, cs.Replicas != nil, cs.MatchTrafficWeight} {
			if b {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, field.Invalid(p.Child("setCanaryScale"), fmt.Sprintf("%d set", n),
				"must set exactly one of weight, replicas or matchTrafficWeight: true"))
		}
		if cs.Weight != nil && (*cs.Weight < 0 || *cs.Weight > 100) {
			errs = append(errs, field.Invalid(p.Child("setCanaryScale", "weight"), *cs.Weight, "must be between 0 and 100"))
		}
		if cs.Replicas != nil && *cs.Replicas < 0 {
			errs = append(errs, field.Invalid(p.Child("setCanaryScale", "replicas"), *cs.Replicas, "must be >= 0"))
		}
	}
	if s.Analysis != nil {
		errs = append(errs, analysisRef(s.Analysis, p.Child("analysis"))...)
	}
	return errs
}

func analysisRef(a *v1alpha1.RolloutAnalysis, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(a.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one template"))
	}
	for i, t := range a.Templates {
		if t.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templates").Index(i).Child("templateName"), ""))
		}
	}
	for i, arg := range a.Args {
		if arg.Name == "" {
			errs = append(errs, field.Required(p.Child("args").Index(i).Child("name"), ""))
		}
	}
	return errs
}

func blueGreen(bg *v1alpha1.BlueGreenStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if bg.ActiveService == "" {
		errs = append(errs, field.Required(p.Child("activeService"), "the Service that receives production traffic"))
	}
	if bg.ActiveService != "" && bg.ActiveService == bg.PreviewService {
		errs = append(errs, field.Invalid(p.Child("previewService"), bg.PreviewService, "must differ from activeService"))
	}
	_, e := intOrPercent(bg.MaxUnavailable, p.Child("maxUnavailable"))
	errs = append(errs, e...)
	for _, a := range []struct {
		r    *v1alpha1.RolloutAnalysis
		name string
	}{{bg.PrePromotionAnalysis, "prePromotionAnalysis"}, {bg.PostPromotionAnalysis, "postPromotionAnalysis"}} {
		if a.r != nil {
			errs = append(errs, analysisRef(a.r, p.Child(a.name))...)
		}
	}
	return errs
}

// intOrPercent checks a maxSurge/maxUnavailable value and reports whether it is zero.
func intOrPercent(v *intstr.IntOrString, p *field.Path) (bool, field.ErrorList) {
	if v == nil {
		return false, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return false, field.ErrorList{field.Invalid(p, v.IntVal, "must be >= 0")}
		}
		return v.IntVal == 0, nil
	}
	// A string of digits ("1", what Helm's quote writes) is a percentage, as
	// upstream's rolling-update arithmetic reads every string.
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil || n < 0 {
		return false, field.ErrorList{field.Invalid(p, v.StrVal, "must be a non-negative integer or a percentage like 25%")}
	}
	return n == 0, nil
}

// PauseDuration parses a pause duration: an int (seconds), a string of digits
// (seconds) or a Go duration with a unit (30s, 5m, 1h).
func PauseDuration(v *intstr.IntOrString) (time.Duration, error) {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("must be >= 0")
		}
		return time.Duration(v.IntVal) * time.Second, nil
	}
	if n, err := strconv.ParseInt(v.StrVal, 10, 32); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must be >= 0")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v.StrVal)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("must be seconds (30) or a duration with a unit (30s, 5m, 1h)")
	}
	return d, nil
}
