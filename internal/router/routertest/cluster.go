// Package routertest is a fake API server for routers' unit tests that
// serves only the kinds it is given, and answers any other kind with the
// NoMatch error a real client returns for a kind or version the cluster does
// not serve (controller-runtime's fake client does not consult its mapper).
package routertest

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// Cluster serves the namespaced kinds, as unstructured objects.
func Cluster(kinds ...schema.GroupVersionKind) client.Client {
	mapper := meta.NewDefaultRESTMapper(nil)
	scheme := runtime.NewScheme()
	for _, k := range kinds {
		mapper.Add(k, meta.RESTScopeNamespace)
		scheme.AddKnownTypeWithName(k, &unstructured.Unstructured{})
		scheme.AddKnownTypeWithName(k.GroupVersion().WithKind(k.Kind+"List"), &unstructured.UnstructuredList{})
	}
	return served{fake.NewClientBuilder().WithScheme(scheme).Build(), mapper}
}

type served struct {
	client.Client
	mapper meta.RESTMapper
}

func (s served) check(obj client.Object) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	_, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err
}

func (s served) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := s.check(obj); err != nil {
		return err
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

func (s served) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := s.check(obj); err != nil {
		return err
	}
	return s.Client.Create(ctx, obj, opts...)
}

func (s served) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := s.check(obj); err != nil {
		return err
	}
	return s.Client.Update(ctx, obj, opts...)
}
