package analysis

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var placeholder = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}`)

// Substitute fills {{args.NAME}} placeholders in every string of metric
// with values. A placeholder without a value is an error naming it.
func Substitute(metric v1alpha1.Metric, values map[string]string) (v1alpha1.Metric, error) {
	raw, err := json.Marshal(metric)
	if err != nil {
		return metric, err
	}
	var missing string
	out := placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		name := string(placeholder.FindSubmatch(m)[1])
		v, ok := values[name]
		if !ok {
			missing = name
			return m
		}
		esc, _ := json.Marshal(v)
		return esc[1 : len(esc)-1] // inside an existing JSON string
	})
	if missing != "" {
		return metric, fmt.Errorf("metric %q uses {{args.%s}} but the run has no value for argument %q", metric.Name, missing, missing)
	}
	var res v1alpha1.Metric
	if err := json.Unmarshal(out, &res); err != nil {
		return metric, fmt.Errorf("metric %q after filling in arguments: %v", metric.Name, err)
	}
	return res, nil
}
