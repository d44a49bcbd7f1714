package router

import "github.com/sluice-dev/sluice/api/v1alpha1"

// InEffect are the header and mirror routes the canary's steps before and at
// step idx leave in place, in the order of managed (highest precedence
// first): each route as the last setHeaderRoute or setMirrorRoute step that
// names it set it; a step without match removes it.
//
// Upstream sets a route when its step is reached and relies on the router
// object keeping it. Sluice derives the routes from the step index instead,
// so a route reset behind its back (a GitOps sync) or a controller killed
// between two writes is put right by the next reconcile.
func InEffect(steps []v1alpha1.CanaryStep, idx int32, managed []string) []ManagedRoute {
	set := map[string]ManagedRoute{}
	for i := 0; i <= int(idx) && i < len(steps); i++ {
		s := &steps[i]
		switch {
		case s.SetHeaderRoute != nil && len(s.SetHeaderRoute.Match) == 0:
			delete(set, s.SetHeaderRoute.Name)
		case s.SetHeaderRoute != nil:
			set[s.SetHeaderRoute.Name] = ManagedRoute{Name: s.SetHeaderRoute.Name, Header: s.SetHeaderRoute}
		case s.SetMirrorRoute != nil && len(s.SetMirrorRoute.Match) == 0:
			delete(set, s.SetMirrorRoute.Name)
		case s.SetMirrorRoute != nil:
			set[s.SetMirrorRoute.Name] = ManagedRoute{Name: s.SetMirrorRoute.Name, Mirror: s.SetMirrorRoute}
		}
	}
	var out []ManagedRoute
	for _, name := range managed {
		if r, ok := set[name]; ok {
			out = append(out, r)
		}
	}
	return out
}
