package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	const ok, bad = "result[0] < 0.05", "result[0] >= 0.05"
	for _, tc := range []struct {
		name        string
		succ, fail  string
		result      any
		empty       bool
		phase       v1alpha1.AnalysisPhase
		msgFragment string
	}{
		{"seed: low error rate", ok, bad, []float64{0.01}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"seed: high error rate", ok, bad, []float64{0.5}, false, v1alpha1.AnalysisPhaseFailed, "failureCondition"},
		{"seed bug #5: empty vector", ok, bad, []float64{}, true, v1alpha1.AnalysisPhaseInconclusive, "no samples"},
		{"index past the end without the empty flag", ok, bad, []float64{}, false, v1alpha1.AnalysisPhaseInconclusive, "fewer samples"},
		{"NaN matches neither", ok, bad, []float64{nan}, false, v1alpha1.AnalysisPhaseInconclusive, "neither"},
		{"NaN with only a failure condition is not success", "", bad, []float64{nan}, false, v1alpha1.AnalysisPhaseInconclusive, "NaN"},
		{"Inf scalar success is not evidence", "result > 0", "", inf, false, v1alpha1.AnalysisPhaseInconclusive, "+Inf"},
		{"NaN handled explicitly", "isNaN(result[0]) || result[0] < 0.05", "", []float64{nan}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"default()", "default(result[0], 0) < 0.05", "", []float64{nan}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"only success, false", ok, "", []float64{0.5}, false, v1alpha1.AnalysisPhaseFailed, "not met"},
		{"only failure, false", "", bad, []float64{0.01}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"scalar", "result == 1", "", 1.0, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"len()", "len(result) == 2", "", []float64{1, 2}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"web JSON", `result.status == "ok"`, "", map[string]any{"status": "ok"}, false, v1alpha1.AnalysisPhaseSuccessful, ""},
		{"web JSON mismatch", `result.status == "ok"`, "", map[string]any{"status": "down"}, false, v1alpha1.AnalysisPhaseFailed, ""},
		{"JSON null (web jsonPath picking null)", "result < 0.05", "", nil, false, v1alpha1.AnalysisPhaseInconclusive, "null"},
		{"does not compile", "result[0] <<< 1", "", []float64{1}, false, v1alpha1.AnalysisPhaseError, "does not compile"},
		{"not a bool", "result[0]", "", []float64{1}, false, v1alpha1.AnalysisPhaseError, "not true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.succ, tc.fail, tc.result, tc.empty)
			if v.Phase != tc.phase || !strings.Contains(v.Message, tc.msgFragment) {
				t.Fatalf("got %s %q; want %s containing %q", v.Phase, v.Message, tc.phase, tc.msgFragment)
			}
		})
	}
}

func FuzzJudge(f *testing.F) {
	f.Add("result[0] < 0.05", "result[0] >= 0.05", 0.01, 1)
	f.Add("isNaN(result[0])", "", math.NaN(), 0)
	f.Add("result[5] > 1 && len(result) > 0", "result ?? 1", 1.0, 3)
	f.Fuzz(func(t *testing.T, succ, fail string, v float64, n int) {
		if n < 0 || n > 16 {
			n = 1
		}
		vec := make([]float64, n)
		for i := range vec {
			vec[i] = v
		}
		verdict := Judge(succ, fail, vec, n == 0)
		if verdict.Phase == v1alpha1.AnalysisPhaseSuccessful && (n == 0 || ((math.IsNaN(v) || math.IsInf(v, 0)) && !handlesNonFinite(succ+" "+fail))) {
			t.Fatalf("no data judged Successful: %q / %q on %v", succ, fail, vec)
		}
		_ = Judge(succ, fail, v, false)
		_ = Judge(succ, fail, map[string]any{"a": v}, false)
	})
}

// Issue 16 #12: a condition that cannot compile is found when the template
// is validated, not at run time; valid ones (with the helpers, JSON fields,
// {{args}} placeholders) pass without a result.
func TestCompile(t *testing.T) {
	for cond, ok := range map[string]bool{
		"":                                     true,
		"result[0] < 0.05":                     true,
		`result == "ok"`:                       true,
		`result.status == "ok"`:                true,
		"len(result) > 0 && !isNaN(result[0])": true,
		"default(result[0], 0) < 1":            true,
		"result[0] < {{args.threshold}}":       true,
		"result[0] <":                          false,
		"isNan(result[0])":                     false,
		"results[0] < 1":                       false,
	} {
		if err := Compile(cond); (err == nil) != ok {
			t.Errorf("Compile(%q) = %v, want ok=%v", cond, err, ok)
		}
	}
}
