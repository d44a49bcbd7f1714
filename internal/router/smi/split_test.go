package smi

import (
	"encoding/json"
	"strings"
	"testing"
)

// spec decodes a TrafficSplit spec as the API server's JSON would be read.
func spec(t testing.TB, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpecWeight(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       int32
	}{
		{"the spec Sluice writes", `{"service":"root","backends":[{"service":"canary","weight":20},{"service":"stable","weight":80}]}`, 20},
		{"v1alpha1 quantity strings", `{"service":"root","backends":[{"service":"canary","weight":"30"},{"service":"stable","weight":"70"}]}`, 30},
		{"all stable", `{"service":"root","backends":[{"service":"canary","weight":0},{"service":"stable","weight":100}]}`, 0},
		{"weights reset by hand (do not add up)", `{"service":"root","backends":[{"service":"canary","weight":20},{"service":"stable","weight":100}]}`, -1},
		{"relative weights are not what Sluice writes", `{"service":"root","backends":[{"service":"canary","weight":1},{"service":"stable","weight":4}]}`, -1},
		{"root Service changed", `{"service":"other","backends":[{"service":"canary","weight":20},{"service":"stable","weight":80}]}`, -1},
		{"backend added", `{"service":"root","backends":[{"service":"canary","weight":20},{"service":"stable","weight":70},{"service":"x","weight":10}]}`, -1},
		{"stable missing", `{"service":"root","backends":[{"service":"canary","weight":100}]}`, -1},
		{"matches added", `{"service":"root","matches":[{"kind":"HTTPRouteGroup","name":"g"}],"backends":[{"service":"canary","weight":20},{"service":"stable","weight":80}]}`, -1},
		{"fractional quantity", `{"service":"root","backends":[{"service":"canary","weight":"500m"},{"service":"stable","weight":"99500m"}]}`, -1},
		{"over the maximum", `{"service":"root","backends":[{"service":"canary","weight":120},{"service":"stable","weight":-20}]}`, -1},
		{"no spec", `{}`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := specWeight(spec(t, tc.spec), "root", "stable", "canary", 100); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDesiredSpecReadsBack(t *testing.T) {
	for _, max := range []int32{100, 1000} {
		for _, w := range []int32{0, 1, 20, max / 2, max} {
			// Through JSON, as it comes back from the API server.
			b, _ := json.Marshal(desiredSpec("root", "stable", "canary", w, max))
			if got := specWeight(spec(t, string(b)), "root", "stable", "canary", max); got != w {
				t.Fatalf("max %d: wrote %d, read %d from %s", max, w, got, b)
			}
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{}`, ""},
		{`{"rootService":"shop","trafficSplitName":"shop-split"}`, ""},
		{`{"rootService":"shop","trafficSplit":"x"}`, `unknown field "trafficSplit"`},
		{`{"rootService":"Shop_1"}`, `rootService "Shop_1" is not a Service name`},
		{`{"trafficSplitName":"a/b"}`, `trafficSplitName "a/b" is not an object name`},
		{`"shop"`, "cannot be read"},
		{``, "is empty"},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

// Any input either fails with a message or yields a config with valid
// names; any weight written reads back, and a spec from anywhere reads as a
// weight in range or -1.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"rootService":"shop"}`), int32(20), []byte(`{"service":"root","backends":[{"service":"canary","weight":20},{"service":"stable","weight":80}]}`))
	f.Add([]byte(`{}`), int32(100), []byte(`{"backends":[{"service":"canary","weight":"1e2"},{"service":"stable","weight":"0"}],"service":"root"}`))
	f.Fuzz(func(t *testing.T, raw []byte, w int32, js []byte) {
		if cfg, err := ParseConfig(raw); err == nil && (strings.ContainsAny(cfg.RootService, "/ _") || strings.ContainsAny(cfg.TrafficSplitName, "/ _")) {
			t.Fatalf("accepted invalid names: %+v from %q", cfg, raw)
		}
		var m map[string]any
		if json.Unmarshal(js, &m) == nil {
			if got := specWeight(m, "root", "stable", "canary", 100); got < -1 || got > 100 {
				t.Fatalf("%s read as %d", js, got)
			}
		}
		w = ((w % 101) + 101) % 101
		b, _ := json.Marshal(desiredSpec("root", "stable", "canary", w, 100))
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if got := specWeight(back, "root", "stable", "canary", 100); got != w {
			t.Fatalf("set %d, read %d", w, got)
		}
	})
}
