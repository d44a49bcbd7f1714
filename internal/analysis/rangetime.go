package analysis

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr"
)

// RangeTime evaluates a prometheus rangeQuery start or end: an expr
// expression of type time, as upstream writes them, e.g. `now()` or
// `now() - duration("5m")`. now() is the given instant, so a measurement's
// start and end are taken from one clock reading.
func RangeTime(expression string, now time.Time) (time.Time, error) {
	nowFn := expr.Function("now", func(...any) (any, error) { return now, nil }, new(func() time.Time))
	prog, err := expr.Compile(expression, nowFn)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an expression of a time, like now() - duration(\"5m\"): %v", err)
	}
	out, err := expr.Run(prog, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %v", expression, err)
	}
	t, ok := out.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is a %T, not a time: write it like now() - duration(\"5m\")", expression, out)
	}
	return t, nil
}
