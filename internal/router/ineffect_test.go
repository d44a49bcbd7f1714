package router

import (
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func TestInEffectFollowsTheStepsInManagedOrder(t *testing.T) {
	m := []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: v1alpha1.StringMatch{Exact: "1"}}}
	mirror := []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}
	steps := []v1alpha1.CanaryStep{
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta", Match: m}},        // 0
		{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow", Match: mirror}}, // 1
		{Pause: &v1alpha1.RolloutPause{}},                                         // 2
		{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "beta"}},                  // 3: removes beta
		{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "shadow"}},                // 4: removes shadow
	}
	names := func(rs []ManagedRoute) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	managed := []string{"shadow", "beta"} // shadow first: it takes precedence
	for idx, want := range [][]string{{"beta"}, {"shadow", "beta"}, {"shadow", "beta"}, {"shadow"}, nil, nil} {
		if got := names(InEffect(steps, int32(idx), managed)); !reflect.DeepEqual(got, want) {
			t.Errorf("step %d: %v, want %v", idx, got, want)
		}
	}
	got := InEffect(steps, 1, managed)
	if got[0].Mirror == nil || got[0].Header != nil || got[1].Header == nil || got[1].Mirror != nil {
		t.Errorf("kinds: %+v", got)
	}
	if got := InEffect(steps, 1, []string{"beta"}); len(got) != 1 || got[0].Name != "beta" {
		t.Errorf("a route not in managedRoutes is never carried: %+v", got)
	}
}
