package traefik

import (
	"encoding/json"
	"strings"
	"testing"
)

func services(t testing.TB, js string) []any {
	t.Helper()
	var s []any
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServicesWeight(t *testing.T) {
	for _, tc := range []struct {
		name, services string
		want           int32
		err            string
	}{
		{"percent weights", `[{"name":"stable","port":80,"weight":80},{"name":"canary","port":80,"weight":20}]`, 20, ""},
		{"unset weights are 1 each (Traefik's round robin)", `[{"name":"stable","port":80},{"name":"canary","port":80}]`, 50, ""},
		{"relative weights", `[{"name":"stable","weight":3},{"name":"canary","weight":1}]`, 25, ""},
		{"all zero", `[{"name":"stable","weight":0},{"name":"canary","weight":0}]`, 0, ""},
		{"other entries are not counted", `[{"name":"mirror","kind":"TraefikService","weight":50},{"name":"canary","weight":10},{"name":"stable","weight":90}]`, 10, ""},
		{"explicit kind and own namespace", `[{"name":"stable","kind":"Service","namespace":"apps","weight":50},{"name":"canary","kind":"Service","weight":50}]`, 50, ""},
		{"a TraefikService of the canary's name is not the canary Service", `[{"name":"stable","weight":100},{"name":"canary","kind":"TraefikService","weight":5}]`, 0,
			`does not list the canary Service "canary"`},
		{"a Service of another namespace is not the stable Service", `[{"name":"stable","namespace":"other"},{"name":"canary"}]`, 0,
			`does not list the stable Service "stable"`},
		{"neither listed", `[{"name":"web","port":80}]`, 0, `lists neither the stable Service "stable" nor the canary Service "canary"`},
		{"listed twice", `[{"name":"stable","port":80},{"name":"stable","port":81},{"name":"canary"}]`, 0, `lists the stable Service "stable" twice`},
		{"weight not a number", `[{"name":"stable","weight":"80"},{"name":"canary","weight":20}]`, -1, ""},
		{"not an object", `["stable"]`, 0, "spec.weighted.services[0] is not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := servicesWeight(services(t, tc.services), "apps", "stable", "canary", 100)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestSetServicesWeightWritesOnlyWhatChanges(t *testing.T) {
	s := services(t, `[{"name":"stable","port":80},{"name":"canary","port":80},{"name":"extra","kind":"TraefikService","weight":7}]`)
	if !setServicesWeight(s, "apps", "stable", "canary", 30, 100) {
		t.Fatal("first set reported no change")
	}
	b, _ := json.Marshal(s)
	if want := `[{"name":"stable","port":80,"weight":70},{"name":"canary","port":80,"weight":30},{"kind":"TraefikService","name":"extra","weight":7}]`; string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	if setServicesWeight(s, "apps", "stable", "canary", 30, 100) {
		t.Fatal("setting the same weight again reported a change")
	}
	// Unset weights read as 1/1 = 50, but 50 must still be written explicitly.
	s = services(t, `[{"name":"stable"},{"name":"canary"}]`)
	if !setServicesWeight(s, "apps", "stable", "canary", 50, 100) {
		t.Fatal("unset weights were taken for 50/50 without writing them")
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{"weightedTraefikServiceName":"shop"}`, ""},
		{`{}`, "name the weighted TraefikService"},
		{`{"weightedTraefikServiceName":"shop","ingressRoute":"x"}`, `unknown field "ingressRoute"`},
		{`{"weightedTraefikServiceName":"Shop!"}`, `weightedTraefikServiceName "Shop!" is not an object name`},
		{`"shop"`, "cannot be read"},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

// Any input either fails with a message or names a TraefikService; any
// weights read as a share in range; set-then-read returns the weight set.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"weightedTraefikServiceName":"shop"}`), int32(20), int64(3), int64(1), int32(100))
	f.Add([]byte(`{}`), int32(100), int64(0), int64(0), int32(1000))
	f.Fuzz(func(t *testing.T, raw []byte, w int32, s, c int64, max int32) {
		if cfg, err := ParseConfig(raw); err == nil && cfg.WeightedTraefikServiceName == "" {
			t.Fatalf("accepted a config without a TraefikService: %q", raw)
		}
		if max <= 0 || max > 10000 || s < 0 || c < 0 || s > 1<<40 || c > 1<<40 {
			return
		}
		svcs := []any{map[string]any{"name": "stable", "weight": s}, map[string]any{"name": "canary", "weight": c}}
		if got, err := servicesWeight(svcs, "apps", "stable", "canary", max); err != nil || got < 0 || got > max {
			t.Fatalf("weights %d/%d read as %d, %v", s, c, got, err)
		}
		w = ((w % (max + 1)) + max + 1) % (max + 1)
		setServicesWeight(svcs, "apps", "stable", "canary", w, max)
		if got, _ := servicesWeight(svcs, "apps", "stable", "canary", max); got != w {
			t.Fatalf("set %d of %d, read %d", w, max, got)
		}
	})
}
