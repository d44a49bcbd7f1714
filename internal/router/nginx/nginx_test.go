package nginx

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func path(p, svc string) networkingv1.HTTPIngressPath {
	prefix := networkingv1.PathTypePrefix
	return networkingv1.HTTPIngressPath{Path: p, PathType: &prefix, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
}

// stableIngress has a host routing / to the stable and /admin to another
// Service, a host that never sees the stable, and a TLS section.
func stableIngress() *networkingv1.Ingress {
	class := "nginx"
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Annotations: map[string]string{
			classAnnotation: "nginx", DefaultPrefix + "/rewrite-target": "/"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"shop.example"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{
				{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", "app-stable"), path("/admin", "admin")}}}},
				{Host: "other.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", "other")}}}},
				{Host: "no-http.example"},
			},
		},
	}
}

func testParams(cfg *Config, total *int32) *params {
	return &params{cfg: cfg, stable: "app-stable", canary: "app-canary", total: total,
		owner: metav1.OwnerReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "app", UID: types.UID("uid-1"),
			Controller: func() *bool { b := true; return &b }()}}
}

func TestDesiredCanaryIngress(t *testing.T) {
	total := int32(1000)
	cfg := &Config{StableIngress: "web",
		AdditionalIngressAnnotations: map[string]string{"canary-by-header": "X-Canary", DefaultPrefix + "/canary-by-cookie": "c"},
		CanaryIngressAnnotations:     map[string]string{"example.com/team": "shop", DefaultPrefix + "/canary-by-header": "X-Override"}}
	st := stableIngress()
	got, err := desired(st, "app-web-canary", testParams(cfg, &total), 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Rules) != 1 || got.Spec.Rules[0].Host != "shop.example" {
		t.Fatalf("want only the rule routing to the stable Service, got %+v", got.Spec.Rules)
	}
	paths := got.Spec.Rules[0].HTTP.Paths
	if paths[0].Backend.Service.Name != "app-canary" || paths[1].Backend.Service.Name != "admin" {
		t.Fatalf("want / to the canary and /admin untouched, got %s and %s", paths[0].Backend.Service.Name, paths[1].Backend.Service.Name)
	}
	if st.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "app-stable" {
		t.Fatal("the stable Ingress was changed")
	}
	if *got.Spec.IngressClassName != "nginx" || len(got.Spec.TLS) != 1 || got.Spec.TLS[0].SecretName != "tls" {
		t.Fatalf("class and TLS not kept: %+v", got.Spec)
	}
	want := map[string]string{
		classAnnotation:                        "nginx",
		DefaultPrefix + "/canary":              "true",
		DefaultPrefix + "/canary-weight":       "200",
		DefaultPrefix + "/canary-weight-total": "1000",
		DefaultPrefix + "/canary-by-header":    "X-Override", // canaryIngressAnnotations win
		DefaultPrefix + "/canary-by-cookie":    "c",
		"example.com/team":                     "shop",
	}
	if len(got.Annotations) != len(want) {
		t.Fatalf("annotations %v, want %v", got.Annotations, want)
	}
	for k, v := range want {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
		}
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != "uid-1" {
		t.Fatalf("owner references %+v", got.OwnerReferences)
	}

	// A custom prefix, no maxTrafficWeight: no canary-weight-total.
	got, err = desired(st, "c", testParams(&Config{AnnotationPrefix: "custom.io"}, nil), 20)
	if err != nil || got.Annotations["custom.io/canary-weight"] != "20" || got.Annotations["custom.io/canary"] != "true" {
		t.Fatalf("custom prefix: %v %v", got.Annotations, err)
	}
	if _, ok := got.Annotations["custom.io/canary-weight-total"]; ok {
		t.Fatal("canary-weight-total written without maxTrafficWeight")
	}
}

func TestDesiredWithoutStableBackend(t *testing.T) {
	st := stableIngress()
	st.Spec.Rules[0].HTTP.Paths[0].Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}
	_, err := desired(st, "c", testParams(&Config{}, nil), 0)
	if err == nil || !strings.Contains(err.Error(), `no rule of Ingress "web" has a path whose backend is the stable Service "app-stable"`) {
		t.Fatalf("err %v", err)
	}
}

func TestWeightOfAndMerge(t *testing.T) {
	p := testParams(&Config{AdditionalIngressAnnotations: map[string]string{"canary-by-header": "X"}}, nil)
	want, err := desired(stableIngress(), "c", p, 20)
	if err != nil {
		t.Fatal(err)
	}
	if w := weightOf(want, p, 100); w != 20 {
		t.Fatalf("weight %d, want 20", w)
	}
	cur := want.DeepCopy()
	cur.Annotations["rancher.io/x"] = "kept"
	cur.Annotations[DefaultPrefix+"/canary-by-cookie"] = "dropped"
	cur.Annotations[DefaultPrefix+"/canary-weight"] = "0" // reset behind our back
	cur.Spec.Rules[0].Host = "old.example"
	next, changed := merged(cur, want, p)
	if !changed {
		t.Fatal("no change reported")
	}
	if next.Annotations["rancher.io/x"] != "kept" || next.Annotations[DefaultPrefix+"/canary-weight"] != "20" {
		t.Fatalf("annotations after merge %v", next.Annotations)
	}
	if _, ok := next.Annotations[DefaultPrefix+"/canary-by-cookie"]; ok {
		t.Fatal("an annotation under the prefix that the config no longer asks for was kept")
	}
	if next.Spec.Rules[0].Host != "shop.example" {
		t.Fatal("spec not brought back in sync with the stable Ingress")
	}
	if _, again := merged(next, want, p); again {
		t.Fatal("merging an in-sync Ingress reported a change")
	}
	for _, bad := range []string{"", "x", "-1", "101"} {
		c := want.DeepCopy()
		c.Annotations[DefaultPrefix+"/canary-weight"] = bad
		if w := weightOf(c, p, 100); w != -1 {
			t.Errorf("canary-weight %q read as %d, want -1", bad, w)
		}
	}
	c := want.DeepCopy()
	delete(c.Annotations, DefaultPrefix+"/canary")
	if w := weightOf(c, p, 100); w != -1 {
		t.Errorf("without canary: true read as %d", w)
	}
}

func TestOurs(t *testing.T) {
	p := testParams(&Config{}, nil)
	ing := &networkingv1.Ingress{}
	if ours(ing, p) {
		t.Fatal("an Ingress without owner is ours")
	}
	ing.OwnerReferences = []metav1.OwnerReference{p.owner}
	if !ours(ing, p) {
		t.Fatal("our Ingress is not ours")
	}
	ing.OwnerReferences[0].UID = "other"
	if ours(ing, p) {
		t.Fatal("another Rollout's Ingress is ours")
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{"stableIngress":"web"}`, ""},
		{`{"stableIngresses":["a","b"],"annotationPrefix":"x.io","additionalIngressAnnotations":{"canary-by-header":"X"},"canaryIngressAnnotations":{"a":"b"}}`, ""},
		{`{}`, "name the Ingress that routes to the stableService"},
		{`{"stableIngress":"a","stableIngresses":["b"]}`, "not both"},
		{`{"stableIngresses":["a",""]}`, "stableIngresses[1] is empty"},
		{`{"stableIngresses":["a","a"]}`, `stableIngresses[1]: "a" is named twice`},
		{`{"stableIngress":"web","annotationPrefix":"x.io/"}`, "without a slash"},
		{`{"stableIngress":"web","canaryWeight":5}`, `unknown field "canaryWeight"`},
		{`"web"`, "cannot be read"},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

func TestCanaryName(t *testing.T) {
	if got := CanaryName("app", "web"); got != "app-web-canary" {
		t.Fatalf("got %q", got)
	}
	long := CanaryName(strings.Repeat("r", 200), strings.Repeat("s", 100))
	if len(long) != 253 || !strings.HasSuffix(long, "-canary") {
		t.Fatalf("long name %d chars: %q", len(long), long)
	}
}

// Any input either fails with a message or names a stable Ingress; a
// weight set on a canary Ingress reads back.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"stableIngress":"web"}`), int32(20), int32(100))
	f.Add([]byte(`{"stableIngresses":["a"],"annotationPrefix":"p"}`), int32(7), int32(1000))
	f.Fuzz(func(t *testing.T, raw []byte, w, max int32) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return
		}
		if len(cfg.refs("app")) == 0 {
			t.Fatalf("accepted a config without a stable Ingress: %q", raw)
		}
		if max <= 0 {
			return
		}
		w = ((w % (max + 1)) + max + 1) % (max + 1)
		p := testParams(cfg, &max)
		ing, err := desired(stableIngress(), "c", p, w)
		if err != nil {
			t.Fatal(err)
		}
		if got := weightOf(ing, p, max); got != w {
			t.Fatalf("set %d, read %d (prefix %q)", w, got, cfg.Prefix())
		}
	})
}
