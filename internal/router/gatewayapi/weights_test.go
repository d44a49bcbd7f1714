package gatewayapi

import (
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func w32(v int32) *int32 { return &v }

func ref(name string, weight *int32) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name)}, Weight: weight}}
}

func route(rules ...[]gwv1.HTTPBackendRef) *gwv1.HTTPRoute {
	rt := &gwv1.HTTPRoute{}
	rt.Name = "web"
	for _, refs := range rules {
		rt.Spec.Rules = append(rt.Spec.Rules, gwv1.HTTPRouteRule{BackendRefs: refs})
	}
	return rt
}

func TestRouteWeight(t *testing.T) {
	for _, tc := range []struct {
		name string
		rt   *gwv1.HTTPRoute
		want int32
		err  string
	}{
		{"percent weights", route([]gwv1.HTTPBackendRef{ref("stable", w32(80)), ref("canary", w32(20))}), 20, ""},
		{"unset weights are 1 each", route([]gwv1.HTTPBackendRef{ref("stable", nil), ref("canary", nil)}), 50, ""},
		{"relative weights", route([]gwv1.HTTPBackendRef{ref("stable", w32(3)), ref("canary", w32(1))}), 25, ""},
		{"all zero sends no traffic to the canary", route([]gwv1.HTTPBackendRef{ref("stable", w32(0)), ref("canary", w32(0))}), 0, ""},
		{"rules without both Services are left alone",
			route([]gwv1.HTTPBackendRef{ref("stable", w32(100))}, []gwv1.HTTPBackendRef{ref("canary", w32(10)), ref("stable", w32(90))}), 10, ""},
		{"rules that disagree", route(
			[]gwv1.HTTPBackendRef{ref("stable", w32(90)), ref("canary", w32(10))},
			[]gwv1.HTTPBackendRef{ref("stable", w32(50)), ref("canary", w32(50))}), -1, ""},
		{"no rule names both", route([]gwv1.HTTPBackendRef{ref("stable", nil), ref("other", nil)}), 0,
			`no rule of HTTPRoute "web" has backendRefs to both the stable Service "stable" and the canary Service "canary"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := routeWeight(tc.rt, "stable", "canary", 100)
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

func TestSetRouteWeightWritesOnlyWhatChanges(t *testing.T) {
	other := gwv1.Kind("ServiceImport")
	rt := route(
		[]gwv1.HTTPBackendRef{ref("stable", nil), ref("canary", nil)},
		[]gwv1.HTTPBackendRef{ref("stable", w32(100))},
	)
	foreign := ref("canary", w32(7))
	foreign.Kind = &other
	rt.Spec.Rules[1].BackendRefs = append(rt.Spec.Rules[1].BackendRefs, foreign)

	if !setRouteWeight(rt, "stable", "canary", 30, 100) {
		t.Fatal("first set reported no change")
	}
	if got, _ := routeWeight(rt, "stable", "canary", 100); got != 30 {
		t.Fatalf("weight after set %d, want 30", got)
	}
	if *rt.Spec.Rules[0].BackendRefs[0].Weight != 70 || *rt.Spec.Rules[0].BackendRefs[1].Weight != 30 {
		t.Fatalf("rule 0 weights %d/%d, want 70/30", *rt.Spec.Rules[0].BackendRefs[0].Weight, *rt.Spec.Rules[0].BackendRefs[1].Weight)
	}
	if *rt.Spec.Rules[1].BackendRefs[0].Weight != 100 || *rt.Spec.Rules[1].BackendRefs[1].Weight != 7 {
		t.Fatal("a rule without both Services (a ServiceImport is not the canary Service) was changed")
	}
	if setRouteWeight(rt, "stable", "canary", 30, 100) {
		t.Fatal("setting the same weight again reported a change")
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{"httpRoute":"web"}`, ""},
		{`{"httpRoutes":[{"name":"a"},{"name":"b"}],"namespace":"apps"}`, ""},
		{`{}`, "name the HTTPRoute"},
		{`{"httpRoute":"web","gateway":"x"}`, `unknown field "gateway"`},
		{`{"httpRoutes":[{"name":""}]}`, "httpRoutes[0].name is empty"},
		{`{"httpRoutes":[{"name":"a","useHeaderRoutes":true}]}`, ""},
		{`{"grpcRoute":"rpc"}`, `grpcRoute is a field of upstream's gatewayAPI plugin that Sluice does not carry`},
		{`"web"`, "not a Gateway API config"},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

// Any input either fails with a message or yields a config naming a route;
// set-then-read returns the weight set.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"httpRoute":"web"}`), int32(20), int32(3), int32(1))
	f.Add([]byte(`{"httpRoutes":[{"name":"a"}]}`), int32(100), int32(0), int32(0))
	f.Fuzz(func(t *testing.T, raw []byte, w, s, c int32) {
		if cfg, err := ParseConfig(raw); err == nil && cfg.HTTPRoute == "" && len(cfg.HTTPRoutes) == 0 {
			t.Fatalf("accepted a config without a route: %q", raw)
		}
		if s < 0 || c < 0 {
			return
		}
		rt := route([]gwv1.HTTPBackendRef{ref("stable", &s), ref("canary", &c)})
		if got, err := routeWeight(rt, "stable", "canary", 100); err != nil || got < 0 || got > 100 {
			t.Fatalf("weights %d/%d read as %d, %v", s, c, got, err)
		}
		w = ((w % 101) + 101) % 101
		setRouteWeight(rt, "stable", "canary", w, 100)
		if got, _ := routeWeight(rt, "stable", "canary", 100); got != w {
			t.Fatalf("set %d, read %d", w, got)
		}
	})
}
