package validation

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// maxWeight is the full canary weight: trafficRouting.maxTrafficWeight, or 100.
func maxWeight(c *v1alpha1.CanaryStrategy) int32 {
	if tr := c.TrafficRouting; tr != nil && tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight > 0 {
		return *tr.MaxTrafficWeight
	}
	return 100
}

// managedRoutes checks trafficRouting.managedRoutes and the setHeaderRoute
// and setMirrorRoute steps that name them. Whether the router can carry
// them is the router's to say (routers.Validate).
func managedRoutes(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	managed := map[string]bool{}
	if tr := c.TrafficRouting; tr != nil {
		if tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight < 1 {
			errs = append(errs, field.Invalid(p.Child("trafficRouting", "maxTrafficWeight"), *tr.MaxTrafficWeight, "must be at least 1"))
		}
		for i, m := range tr.ManagedRoutes {
			mp := p.Child("trafficRouting", "managedRoutes").Index(i).Child("name")
			switch {
			case m.Name == "":
				errs = append(errs, field.Required(mp, "the name of the route the controller adds and removes"))
			case managed[m.Name]:
				errs = append(errs, field.Duplicate(mp, m.Name))
			}
			managed[m.Name] = true
		}
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		sp := p.Child("steps").Index(i)
		var name string
		switch {
		case s.SetHeaderRoute != nil:
			sp, name = sp.Child("setHeaderRoute"), s.SetHeaderRoute.Name
			for j, m := range s.SetHeaderRoute.Match {
				mp := sp.Child("match").Index(j)
				if m.HeaderName == "" {
					errs = append(errs, field.Required(mp.Child("headerName"), "the header to match"))
				}
				errs = append(errs, stringMatch(&m.HeaderValue, mp.Child("headerValue"))...)
			}
		case s.SetMirrorRoute != nil:
			sp, name = sp.Child("setMirrorRoute"), s.SetMirrorRoute.Name
			if pc := s.SetMirrorRoute.Percentage; pc != nil && (*pc < 0 || *pc > 100) {
				errs = append(errs, field.Invalid(sp.Child("percentage"), *pc, "must be between 0 and 100"))
			}
			for j, m := range s.SetMirrorRoute.Match {
				mp := sp.Child("match").Index(j)
				if m.Method == nil && m.Path == nil && len(m.Headers) == 0 {
					errs = append(errs, field.Required(mp, "set method, path or headers to match"))
				}
				for _, o := range []struct {
					sm   *StringMatchRef
					path *field.Path
				}{{m.Method, mp.Child("method")}, {m.Path, mp.Child("path")}} {
					if o.sm != nil {
						errs = append(errs, stringMatch(o.sm, o.path)...)
					}
				}
				for h, v := range m.Headers {
					errs = append(errs, stringMatch(&v, mp.Child("headers").Key(h))...)
				}
			}
		default:
			continue
		}
		switch {
		case c.TrafficRouting == nil:
			errs = append(errs, field.Forbidden(sp, "needs spec.strategy.canary.trafficRouting with managedRoutes"))
		case name == "":
			errs = append(errs, field.Required(sp.Child("name"), "the managedRoutes entry this step sets"))
		case !managed[name]:
			errs = append(errs, field.NotFound(sp.Child("name"), fmt.Sprintf(
				"%s: not in spec.strategy.canary.trafficRouting.managedRoutes; list it there", name)))
		}
	}
	return errs
}

// StringMatchRef is a header, path or method match.
type StringMatchRef = v1alpha1.StringMatch

// stringMatch requires exactly one of exact, prefix and regex, and a regex
// that compiles.
func stringMatch(m *v1alpha1.StringMatch, p *field.Path) field.ErrorList {
	n := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d set", n), "must set exactly one of exact, prefix or regex")}
	}
	if v := m.Exact + m.Prefix + m.Regex; !utf8.ValidString(v) {
		return field.ErrorList{field.Invalid(p, v, "must be valid UTF-8")}
	}
	if m.Regex != "" {
		if _, err := regexp.Compile(m.Regex); err != nil {
			return field.ErrorList{field.Invalid(p.Child("regex"), m.Regex, "not a regular expression: "+err.Error())}
		}
	}
	return nil
}
