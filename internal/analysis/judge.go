// Package analysis holds the pure parts of analysis: judging a measured
// value against a metric's conditions, and deciding when to measure next and
// what a metric's and a run's verdict is. Providers (internal/analysis/
// provider) take measurements; the AnalysisRun reconciler wires them up.
//
// Its rule, from the seeds: no data is not success. An empty result, NaN or
// Inf, or a condition that indexes past the end of the result, is
// Inconclusive with a message saying so — never Successful, never a panic.
package analysis

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// NoSamples is the message of a measurement whose query returned nothing.
const NoSamples = "query returned no samples: is the metric exported and is there traffic?"

// Verdict is the outcome of judging one value.
type Verdict struct {
	Phase   v1alpha1.AnalysisPhase
	Message string
}

// Judge applies successCondition / failureCondition to result with
// upstream's meaning: failure true → Failed; success true → Successful;
// both set and neither true → Inconclusive; only success set and false →
// Failed; only failure set and false → Successful. result is a float64, a
// []float64 (a Prometheus vector: the seeds' `result[0] < 0.05` works) or
// decoded JSON. empty reports a query that returned no samples.
func Judge(successCond, failureCond string, result any, empty bool) Verdict {
	if empty {
		return Verdict{v1alpha1.AnalysisPhaseInconclusive, NoSamples}
	}
	if result == nil {
		return Verdict{v1alpha1.AnalysisPhaseInconclusive, "the answer holds no value (null): no data is not success"}
	}
	failed, ferr := eval(failureCond, result)
	succeeded, serr := eval(successCond, result)
	for _, err := range []error{ferr, serr} {
		var ie *indexError
		if errors.As(err, &ie) {
			return Verdict{v1alpha1.AnalysisPhaseInconclusive, ie.Error()}
		}
		if err != nil {
			return Verdict{v1alpha1.AnalysisPhaseError, err.Error()}
		}
	}
	var v Verdict
	switch {
	case failureCond != "" && failed:
		return Verdict{v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("failureCondition %q met by %s", failureCond, Format(result))}
	case successCond != "" && succeeded:
		v = Verdict{v1alpha1.AnalysisPhaseSuccessful, ""}
	case successCond != "" && failureCond != "":
		return Verdict{v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("neither successCondition nor failureCondition met by %s", Format(result))}
	case successCond != "":
		return Verdict{v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("successCondition %q not met by %s", successCond, Format(result))}
	default:
		v = Verdict{v1alpha1.AnalysisPhaseSuccessful, ""}
	}
	// A success that rests on NaN or Inf is no evidence (0/0 is what an error
	// rate gives without traffic) unless the condition handles them itself.
	if bad := nonFinite(result); bad != "" && !handlesNonFinite(successCond+" "+failureCond) {
		return Verdict{v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("result %s is %s: no data is not success "+
			"(no traffic makes a ratio 0/0); handle it explicitly with isNaN()/isInf() if that is intended", Format(result), bad)}
	}
	return v
}

var handlesRE = regexp.MustCompile(`\b(isNaN|isInf|default)\s*\(`)

func handlesNonFinite(conds string) bool { return handlesRE.MatchString(conds) }

// eval runs one condition; "" is false without error.
func eval(cond string, result any) (bool, error) {
	if strings.TrimSpace(cond) == "" {
		return false, nil
	}
	out, err := Evaluate(cond, result)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q returned %v (%T), not true or false", cond, out, out)
	}
	return b, nil
}

// indexError is a condition that looked past the end of the result.
type indexError struct{ cond, detail string }

func (e *indexError) Error() string {
	return fmt.Sprintf("condition %q could not be evaluated: %s; the result has fewer samples than it expects "+
		"(no data is not success)", e.cond, e.detail)
}

// Evaluate runs an expr-lang expression over `result`, with the helper
// functions isNaN, isInf, default, asInt and asFloat. It never panics.
func Evaluate(cond string, result any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("condition %q failed: %v", cond, r)
		}
	}()
	env := map[string]any{"result": result}
	prog, err := expr.Compile(cond, options(env)...)
	if err != nil {
		return nil, fmt.Errorf("condition %q does not compile: %v", cond, err)
	}
	out, err = expr.Run(prog, env)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "out of range") || strings.Contains(msg, "index") {
			return nil, &indexError{cond: cond, detail: firstLine(msg)}
		}
		return nil, fmt.Errorf("condition %q failed: %s", cond, firstLine(msg))
	}
	return out, nil
}

// options are the compile options of every condition: the environment and
// the helper functions.
func options(env any) []expr.Option {
	return []expr.Option{expr.Env(env),
		expr.Function("isNaN", func(p ...any) (any, error) { f, ok := toFloat(p[0]); return ok && math.IsNaN(f), nil }, new(func(any) bool)),
		expr.Function("isInf", func(p ...any) (any, error) { f, ok := toFloat(p[0]); return ok && math.IsInf(f, 0), nil }, new(func(any) bool)),
		expr.Function("default", func(p ...any) (any, error) {
			if f, ok := toFloat(p[0]); p[0] == nil || (ok && (math.IsNaN(f) || math.IsInf(f, 0))) {
				return p[1], nil
			}
			return p[0], nil
		}, new(func(any, any) any)),
		expr.Function("asFloat", func(p ...any) (any, error) {
			if f, ok := toFloat(p[0]); ok {
				return f, nil
			}
			return strconv.ParseFloat(fmt.Sprint(p[0]), 64)
		}, new(func(any) float64)),
		expr.Function("asInt", func(p ...any) (any, error) {
			if f, ok := toFloat(p[0]); ok {
				return int(f), nil
			}
			return strconv.Atoi(fmt.Sprint(p[0]))
		}, new(func(any) int)),
	}
}

// compileEnv declares `result` as any type: what a provider returns is
// known only at run time.
type compileEnv struct {
	Result any `expr:"result"`
}

// Compile checks that a condition is an expression Sluice can evaluate,
// without a result to evaluate it on: the syntax and the helper functions.
// {{args.NAME}} placeholders are filled in with a number first (a run fills
// them in before evaluating). "" compiles. The error is expr's, one line.
func Compile(cond string) error {
	if strings.TrimSpace(cond) == "" {
		return nil
	}
	filled := placeholder.ReplaceAllString(cond, "0")
	_, err := expr.Compile(filled, options(compileEnv{})...)
	if err != nil {
		return fmt.Errorf("%s", firstLine(err.Error()))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// nonFinite names NaN or Inf in result ("NaN", "+Inf"), or "".
func nonFinite(v any) string {
	check := func(f float64) string {
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "+Inf"
		case math.IsInf(f, -1):
			return "-Inf"
		}
		return ""
	}
	switch x := v.(type) {
	case float64:
		return check(x)
	case []float64:
		for _, f := range x {
			if s := check(f); s != "" {
				return s
			}
		}
	}
	return ""
}

// Format renders a result for status.metricResults[].measurements[].value.
func Format(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case nil:
		return "<none>"
	}
	return fmt.Sprint(v)
}
