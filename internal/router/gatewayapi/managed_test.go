package gatewayapi

import (
	"regexp"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

func TestManagedRulesAreAddedReplacedAndRemoved(t *testing.T) {
	prefix, api := gwv1.PathMatchPathPrefix, "/api"
	rt := route(
		[]gwv1.HTTPBackendRef{ref("stable", w32(1))}, // operator rule, never touched
		[]gwv1.HTTPBackendRef{ref("stable", w32(80)), ref("canary", w32(20))},
	)
	rt.Spec.Rules[1].Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &prefix, Value: &api}}}
	before := rt.DeepCopy().Spec.Rules
	managed := []string{"beta", "shadow"}
	beta := router.ManagedRoute{Name: "beta", Header: &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Beta", HeaderValue: v1alpha1.StringMatch{Prefix: "a.b"}}}}}
	shadow := router.ManagedRoute{Name: "shadow", Mirror: &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: w32(30),
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}}}

	rules, err := withManaged(rt, "stable", "canary", managed, []router.ManagedRoute{beta, shadow})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 4 || !equality.Semantic.DeepEqual(rules[:2], before) {
		t.Fatalf("want the two operator rules unchanged, then beta and shadow; got %d rules", len(rules))
	}
	h := rules[2]
	if string(*h.Name) != "beta" || len(h.BackendRefs) != 1 || h.BackendRefs[0].Name != "canary" || *h.BackendRefs[0].Weight != 1 {
		t.Fatalf("header rule: %+v", h)
	}
	m := h.Matches[0]
	if *m.Path.Value != "/api" || len(m.Headers) != 1 || m.Headers[0].Value != `^a\.b.*` || *m.Headers[0].Type != gwv1.HeaderMatchRegularExpression {
		t.Fatalf("header rule keeps the split rule's path and adds the quoted prefix: %+v", m)
	}
	s := rules[3]
	if string(*s.Name) != "shadow" || len(s.BackendRefs) != 2 || *s.Matches[0].Method != "GET" || *s.Matches[0].Path.Value != "/api" {
		t.Fatalf("mirror rule: %+v", s)
	}
	f := s.Filters[len(s.Filters)-1]
	if f.Type != gwv1.HTTPRouteFilterRequestMirror || f.RequestMirror.BackendRef.Name != "canary" || *f.RequestMirror.Percent != 30 {
		t.Fatalf("mirror filter: %+v", f)
	}
	// The mirror rule carries the split too; the weight reads the same.
	rt.Spec.Rules = rules
	if w, err := routeWeight(rt, "stable", "canary", 100); err != nil || w != 20 {
		t.Fatalf("weight with managed rules: %d, %v", w, err)
	}
	if setRouteWeight(rt, "stable", "canary", 50, 100); *rt.Spec.Rules[3].BackendRefs[1].Weight != 50 {
		t.Fatal("the mirror rule's split did not follow the weight")
	}

	// Idempotent: the same routes again change nothing.
	again, _ := withManaged(rt, "stable", "canary", managed, []router.ManagedRoute{beta, shadow})
	if !equality.Semantic.DeepEqual(again, rt.Spec.Rules) {
		t.Fatal("a second pass changed the rules")
	}
	// Only beta: shadow goes; nil: all go, the operator's rules stay.
	only, _ := withManaged(rt, "stable", "canary", managed, []router.ManagedRoute{beta})
	if len(only) != 3 || string(*only[2].Name) != "beta" {
		t.Fatalf("only beta: %d rules", len(only))
	}
	none, _ := withManaged(rt, "stable", "canary", managed, nil)
	if len(none) != 2 {
		t.Fatalf("none: %d rules", len(none))
	}
	// A rule the operator named like a managed route but not listed is theirs.
	other := gwv1.SectionName("beta-x")
	rt.Spec.Rules[0].Name = &other
	if got, _ := withManaged(rt, "stable", "canary", managed, nil); len(got) != 2 {
		t.Fatalf("beta-x is not a managed rule: %d rules", len(got))
	}
}

func TestManagedRoutesNeedASplitRuleAndAHeaderRoute(t *testing.T) {
	rt := route([]gwv1.HTTPBackendRef{ref("stable", w32(1))})
	beta := router.ManagedRoute{Name: "beta", Header: &v1alpha1.SetHeaderRoute{Name: "beta"}}
	if _, err := withManaged(rt, "stable", "canary", []string{"beta"}, []router.ManagedRoute{beta}); err == nil {
		t.Fatal("a route without a split rule cannot carry a header route")
	}
	r := &Router{Routes: []string{"web"}}
	if err := r.CanCarry(beta); err == nil {
		t.Fatal("httpRoutes without useHeaderRoutes cannot carry managed routes")
	}
	r.HeaderRoutes = []string{"web"}
	bad := router.ManagedRoute{Name: "m", Mirror: &v1alpha1.SetMirrorRoute{Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Prefix: "G"}}}}}
	if err := r.CanCarry(bad); err == nil {
		t.Fatal("a method prefix cannot be expressed")
	}
	if err := r.CanCarry(beta); err != nil {
		t.Fatal(err)
	}
}

// Whatever the header and mirror matches, a prefix becomes a regular
// expression that compiles and matches the prefix itself, and adding the
// same routes twice changes nothing.
func FuzzManagedRules(f *testing.F) {
	f.Add("X-Beta", "a.b(", "/api", int32(30))
	f.Fuzz(func(t *testing.T, header, prefix, path string, pct int32) {
		if header == "" || prefix == "" || !utf8.ValidString(prefix) {
			return // validation refuses these (validation.stringMatch)
		}
		rt := route([]gwv1.HTTPBackendRef{ref("stable", w32(90)), ref("canary", w32(10))})
		routes := []router.ManagedRoute{
			{Name: "h", Header: &v1alpha1.SetHeaderRoute{Name: "h", Match: []v1alpha1.HeaderRoutingMatch{
				{HeaderName: header, HeaderValue: v1alpha1.StringMatch{Prefix: prefix}}}}},
			{Name: "m", Mirror: &v1alpha1.SetMirrorRoute{Name: "m", Percentage: &pct, Match: []v1alpha1.RouteMatch{
				{Path: &v1alpha1.StringMatch{Prefix: path}}}}},
		}
		rules, err := withManaged(rt, "stable", "canary", []string{"h", "m"}, routes)
		if err != nil {
			t.Fatal(err)
		}
		re, err := regexp.Compile(rules[1].Matches[0].Headers[0].Value)
		if err != nil || !re.MatchString(prefix) {
			t.Fatalf("prefix %q became %q: %v", prefix, rules[1].Matches[0].Headers[0].Value, err)
		}
		rt.Spec.Rules = rules
		again, _ := withManaged(rt, "stable", "canary", []string{"h", "m"}, routes)
		if !equality.Semantic.DeepEqual(again, rules) {
			t.Fatal("not idempotent")
		}
		if w, err := routeWeight(rt, "stable", "canary", 100); err != nil || w != 10 {
			t.Fatalf("weight with managed rules %d %v", w, err)
		}
	})
}
