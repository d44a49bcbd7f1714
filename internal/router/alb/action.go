package alb

import (
	"encoding/json"
	"strconv"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// The annotation values below are what the AWS Load Balancer Controller
// reads from actions.<name> and conditions.<name>; the JSON keys (and
// their case) are the AWS API's, as upstream writes them.

// action is a forward action.
type action struct {
	Type          string        `json:"Type"`
	ForwardConfig forwardConfig `json:"ForwardConfig"`
}

type forwardConfig struct {
	TargetGroups                []targetGroup `json:"TargetGroups"`
	TargetGroupStickinessConfig *stickiness   `json:"TargetGroupStickinessConfig,omitempty"`
}

type stickiness struct {
	Enabled         bool  `json:"Enabled"`
	DurationSeconds int64 `json:"DurationSeconds"`
}

// targetGroup is a Service and port; Weight is relative (0-999).
type targetGroup struct {
	ServiceName string `json:"ServiceName,omitempty"`
	ServicePort string `json:"ServicePort,omitempty"`
	Weight      *int64 `json:"Weight,omitempty"`
}

// condition is a rule condition on one header's values.
type condition struct {
	Field            string       `json:"field"`
	HTTPHeaderConfig headerConfig `json:"httpHeaderConfig"`
}

type headerConfig struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
}

// services is what every action forwards to.
type services struct {
	canary, stable string
	port           int32
	sticky         *StickinessConfig
}

func (s *services) group(name string, w int64) targetGroup {
	return targetGroup{ServiceName: name, ServicePort: strconv.Itoa(int(s.port)), Weight: &w}
}

func (s *services) forward(groups ...targetGroup) action {
	a := action{Type: "forward", ForwardConfig: forwardConfig{TargetGroups: groups}}
	if st := s.sticky; st != nil && st.Enabled {
		a.ForwardConfig.TargetGroupStickinessConfig = &stickiness{Enabled: true, DurationSeconds: st.DurationSeconds}
	}
	return a
}

// split is the weighted action: canary w, stable max-w (canary first, as
// upstream).
func (s *services) split(w, max int32) action {
	return s.forward(s.group(s.canary, int64(w)), s.group(s.stable, int64(max-w)))
}

// toCanary is a header route's action: everything to the canary.
func (s *services) toCanary() action {
	return s.forward(s.group(s.canary, 100))
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers
	}
	return string(b)
}

// splitWeight is the canary weight an actions annotation value carries,
// 0..max, or -1 when it is not exactly the split action Sluice writes (a
// hand edit, another port, stickiness changed): then it is rewritten.
func (s *services) splitWeight(value string, max int32) int32 {
	var a action
	if err := json.Unmarshal([]byte(value), &a); err != nil || len(a.ForwardConfig.TargetGroups) != 2 {
		return -1
	}
	c := a.ForwardConfig.TargetGroups[0].Weight
	if c == nil || *c < 0 || *c > int64(max) {
		return -1
	}
	w := int32(*c)
	if value != encode(s.split(w, max)) {
		return -1
	}
	return w
}

// conditions are a header route's conditions: one per header, exact values
// of the same header merged into one condition (as upstream).
func conditions(route *v1alpha1.SetHeaderRoute) []condition {
	var out []condition
	for _, m := range route.Match {
		merged := false
		for i := range out {
			if out[i].HTTPHeaderConfig.HTTPHeaderName == m.HeaderName {
				out[i].HTTPHeaderConfig.Values = append(out[i].HTTPHeaderConfig.Values, m.HeaderValue.Exact)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, condition{Field: "http-header",
				HTTPHeaderConfig: headerConfig{HTTPHeaderName: m.HeaderName, Values: []string{m.HeaderValue.Exact}}})
		}
	}
	return out
}
