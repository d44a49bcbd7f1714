package router

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Get reads the router object namespace/name into obj, turning the two
// things an operator must fix into Errors: the kind is not installed in the
// cluster (install names what to install) and the object does not exist.
// field is the Rollout field that names the object, for the message.
func Get(ctx context.Context, r client.Reader, obj client.Object, kind, namespace, name, field, install string) error {
	err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	switch {
	case meta.IsNoMatchError(err):
		return &Error{Reason: ReasonRouterNotInstall, Message: fmt.Sprintf(
			"%s is not installed in this cluster, but %s names one; %s, or remove spec.strategy.canary.trafficRouting "+
				"for a replica-count canary", kind, field, install)}
	case apierrors.IsNotFound(err):
		return &Error{Reason: ReasonRouteNotFound, Message: fmt.Sprintf(
			"%s %q named by %s was not found in namespace %q; create it or fix the name", kind, name, field, namespace)}
	case err != nil:
		return fmt.Errorf("get %s %q: %w", kind, name, err)
	}
	return nil
}

// GetUnstructured reads an object of a kind Sluice has no Go types for
// (Istio, SMI, Traefik), with Get's errors.
func GetUnstructured(ctx context.Context, r client.Reader, gvk schema.GroupVersionKind, namespace, name, field, install string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	kind := fmt.Sprintf("%s (%s)", gvk.Kind, gvk.GroupVersion())
	if err := Get(ctx, r, u, kind, namespace, name, field, install); err != nil {
		return nil, err
	}
	return u, nil
}

// DecodeStrict decodes a router's config from its raw JSON into out.
// Unknown fields are errors, so a typo is reported instead of ignored.
func DecodeStrict(raw []byte, out any) error {
	if len(raw) == 0 {
		return fmt.Errorf("is empty")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("cannot be read: %v", err)
	}
	return nil
}

// Unusable is an Error saying an object cannot carry the split.
func Unusable(format string, args ...any) *Error {
	return &Error{Reason: ReasonRouteUnusable, Message: fmt.Sprintf(format, args...)}
}

// WholeNumber reads a number from an unstructured object (JSON decodes to
// int64 or float64; objects built in Go may hold int or int32); ok is false
// for anything that is not a whole number.
func WholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}
