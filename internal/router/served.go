package router

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Served reads a kind that clusters serve under one of several group
// versions (SMI's TrafficSplit v1alpha3..v1alpha1, Traefik's traefik.io or
// traefik.containo.us), trying first the one it last found served, so the
// others are probed again only when that one stops being served.
type Served struct {
	// Kinds in order of preference.
	Kinds []schema.GroupVersionKind
	mu    sync.Mutex
	last  schema.GroupVersionKind
}

// Get reads namespace/name in the first served kind. It returns the object
// (nil when not found) and the kind it is served as; served is false when
// none of the kinds is served (the caller says what to install).
func (s *Served) Get(ctx context.Context, r client.Reader, namespace, name string) (u *unstructured.Unstructured, gvk schema.GroupVersionKind, served bool, err error) {
	s.mu.Lock()
	order := s.Kinds
	if !s.last.Empty() {
		order = append([]schema.GroupVersionKind{s.last}, s.Kinds...)
	}
	s.mu.Unlock()
	tried := map[schema.GroupVersionKind]bool{}
	for _, k := range order {
		if tried[k] {
			continue
		}
		tried[k] = true
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(k)
		err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, u)
		if meta.IsNoMatchError(err) {
			continue
		}
		s.mu.Lock()
		s.last = k
		s.mu.Unlock()
		switch {
		case apierrors.IsNotFound(err):
			return nil, k, true, nil
		case err != nil:
			return nil, k, true, fmt.Errorf("get %s %q (%s): %w", k.Kind, name, k.GroupVersion(), err)
		}
		return u, k, true, nil
	}
	return nil, schema.GroupVersionKind{}, false, nil
}

// Describe names a router's object for messages: its kind and name, and its
// namespace when known (lint reads files without one).
func Describe(kind, name, namespace string) string {
	if namespace == "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s %q in namespace %q", kind, name, namespace)
}

// Forget drops the kind last found served, so the next Get probes from the
// most preferred again.
func (s *Served) Forget() {
	s.mu.Lock()
	s.last = schema.GroupVersionKind{}
	s.mu.Unlock()
}
