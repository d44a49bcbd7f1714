package alb

import (
	"context"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router"
)

func svcs(sticky *StickinessConfig) *services {
	return &services{canary: "app-canary", stable: "app-stable", port: 80, sticky: sticky}
}

// The annotation values are byte for byte what upstream writes and the AWS
// Load Balancer Controller reads.
func TestActionJSON(t *testing.T) {
	got := encode(svcs(nil).split(20, 100))
	want := `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"80","Weight":20},` +
		`{"ServiceName":"app-stable","ServicePort":"80","Weight":80}]}}`
	if got != want {
		t.Fatalf("split action\n got %s\nwant %s", got, want)
	}
	got = encode(svcs(&StickinessConfig{Enabled: true, DurationSeconds: 300}).split(0, 100))
	want = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"80","Weight":0},` +
		`{"ServiceName":"app-stable","ServicePort":"80","Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}`
	if got != want {
		t.Fatalf("sticky action at 0\n got %s\nwant %s", got, want)
	}
	if got, want := encode(svcs(&StickinessConfig{Enabled: false, DurationSeconds: 9}).toCanary()),
		`{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"80","Weight":100}]}}`; got != want {
		t.Fatalf("header route action\n got %s\nwant %s", got, want)
	}
	route := &v1alpha1.SetHeaderRoute{Name: "h", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Canary", HeaderValue: v1alpha1.StringMatch{Exact: "a"}},
		{HeaderName: "X-Team", HeaderValue: v1alpha1.StringMatch{Exact: "t"}},
		{HeaderName: "X-Canary", HeaderValue: v1alpha1.StringMatch{Exact: "b"}},
	}}
	if got, want := encode(conditions(route)), `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["a","b"]}},`+
		`{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Team","values":["t"]}}]`; got != want {
		t.Fatalf("conditions\n got %s\nwant %s", got, want)
	}
}

func TestSplitWeight(t *testing.T) {
	s := svcs(nil)
	for _, w := range []int32{0, 1, 20, 100} {
		if got := s.splitWeight(encode(s.split(w, 100)), 100); got != w {
			t.Errorf("wrote %d, read %d", w, got)
		}
	}
	if got := s.splitWeight(encode(s.split(300, 999)), 999); got != 300 {
		t.Errorf("maxTrafficWeight 999: read %d", got)
	}
	other := &services{canary: "app-canary", stable: "app-stable", port: 8080}
	sticky := svcs(&StickinessConfig{Enabled: true, DurationSeconds: 60})
	for name, v := range map[string]string{
		"not JSON":           "forward",
		"another port":       encode(other.split(20, 100)),
		"stickiness added":   encode(sticky.split(20, 100)),
		"weights not to max": `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-canary","ServicePort":"80","Weight":20},{"ServiceName":"app-stable","ServicePort":"80","Weight":100}]}}`,
		"stable first":       `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"app-stable","ServicePort":"80","Weight":80},{"ServiceName":"app-canary","ServicePort":"80","Weight":20}]}}`,
		"one group":          encode(s.toCanary()),
		"reformatted":        strings.ReplaceAll(encode(s.split(20, 100)), ",", ", "),
	} {
		if got := s.splitWeight(v, 100); got != -1 {
			t.Errorf("%s: read %d, want -1 (rewrite)", name, got)
		}
	}
}

func pathTo(p, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	t := networkingv1.PathTypePrefix
	return networkingv1.HTTPIngressPath{Path: p, PathType: &t, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}
}

func albIngress(actionPort networkingv1.ServiceBackendPort) *networkingv1.Ingress {
	rule := func(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{
			rule("shop.example", pathTo("/admin", "admin", networkingv1.ServiceBackendPort{Number: 80}), pathTo("/", "app-stable", actionPort)),
			rule("other.example", pathTo("/", "other", networkingv1.ServiceBackendPort{Number: 80})),
			{Host: "no-http.example"},
		}}}
}

func TestCheckActionPath(t *testing.T) {
	if err := checkActionPath(albIngress(networkingv1.ServiceBackendPort{Name: useAnnotation}), "app-stable"); err != nil {
		t.Fatal(err)
	}
	err := checkActionPath(albIngress(networkingv1.ServiceBackendPort{Number: 80}), "app-stable")
	if err == nil || !strings.Contains(err.Error(), `do not use port name "use-annotation"`) {
		t.Fatalf("port number: %v", err)
	}
	err = checkActionPath(albIngress(networkingv1.ServiceBackendPort{Name: useAnnotation}), "root")
	if err == nil || !strings.Contains(err.Error(), `no rule of Ingress "web" has a path to Service "root"`) {
		t.Fatalf("no path: %v", err)
	}
}

func TestSetRoutePaths(t *testing.T) {
	ing := albIngress(networkingv1.ServiceBackendPort{Name: useAnnotation})
	managed := []string{"first", "second"}
	if !setRoutePaths(ing, "app-stable", managed, []string{"first", "second"}) {
		t.Fatal("adding routes reported no change")
	}
	var got []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		got = append(got, p.Path+"→"+p.Backend.Service.Name)
	}
	if strings.Join(got, " ") != "/*→first /*→second /admin→admin /→app-stable" {
		t.Fatalf("paths %v", got)
	}
	if len(ing.Spec.Rules[1].HTTP.Paths) != 1 {
		t.Fatal("a rule that does not route to the action service got header routes")
	}
	if setRoutePaths(ing, "app-stable", managed, []string{"first", "second"}) {
		t.Fatal("setting the same routes again reported a change")
	}
	setRoutePaths(ing, "app-stable", managed, []string{"second"})
	if p := ing.Spec.Rules[0].HTTP.Paths; len(p) != 3 || p[0].Backend.Service.Name != "second" {
		t.Fatalf("after dropping first: %+v", p)
	}
	setRoutePaths(ing, "app-stable", managed, nil)
	if p := ing.Spec.Rules[0].HTTP.Paths; len(p) != 2 || p[0].Path != "/admin" {
		t.Fatalf("after removing all: %+v", p)
	}
}

func TestWithManaged(t *testing.T) {
	v := withManaged("", "app", true, "a/actions.s")
	if v != `{"app":["a/actions.s"]}` {
		t.Fatalf("got %s", v)
	}
	v = withManaged(`{"other":["x"]}`, "app", true, "a/actions.s", "a/actions.s")
	if v != `{"app":["a/actions.s"],"other":["x"]}` {
		t.Fatalf("got %s", v)
	}
	if v = withManaged(v, "app", false, "a/actions.s"); v != `{"other":["x"]}` {
		t.Fatalf("got %s", v)
	}
	if v = withManaged("not json", "app", false, "k"); v != "" {
		t.Fatalf("got %s", v)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ raw, err string }{
		{`{"ingress":"web","servicePort":80}`, ""},
		{`{"ingresses":["a","b"],"servicePort":443,"rootService":"root","annotationPrefix":"x.io","stickinessConfig":{"enabled":true,"durationSeconds":60}}`, ""},
		{`{"ingress":"web","servicePort":80,"stickinessConfig":{"enabled":false,"durationSeconds":0}}`, ""},
		{`{"servicePort":80}`, "name the Ingress"},
		{`{"ingress":"a","ingresses":["b"],"servicePort":80}`, "not both"},
		{`{"ingresses":["a","a"],"servicePort":80}`, `ingresses[1]: "a" is named twice`},
		{`{"ingress":"web"}`, "servicePort is required"},
		{`{"ingress":"web","servicePort":70000}`, "servicePort is required"},
		{`{"ingress":"web","servicePort":80,"stickinessConfig":{"enabled":true,"durationSeconds":0}}`, "1 to 604800 seconds"},
		{`{"ingress":"web","servicePort":80,"verifyWeight":true}`, `unknown field "verifyWeight"`},
	} {
		_, err := ParseConfig([]byte(tc.raw))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", tc.raw, err, tc.err)
		}
	}
}

func testRollout(config string, managed ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app"}}
	tr := &v1alpha1.TrafficRouting{ALB: &runtime.RawExtension{Raw: []byte(config)}}
	for _, m := range managed {
		tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.ManagedRoute{Name: m})
	}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{StableService: "app-stable", CanaryService: "app-canary", TrafficRouting: tr}
	return ro
}

func TestCanCarry(t *testing.T) {
	r, err := New(router.Config{Rollout: testRollout(`{"ingress":"web","servicePort":80}`), Stable: "app-stable", Canary: "app-canary", MaxWeight: 100})
	if err != nil {
		t.Fatal(err)
	}
	exact := []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: v1alpha1.StringMatch{Exact: "1"}}}
	for _, tc := range []struct {
		route router.ManagedRoute
		err   string
	}{
		{router.ManagedRoute{Name: "h", Header: &v1alpha1.SetHeaderRoute{Name: "h", Match: exact}}, ""},
		{router.ManagedRoute{Name: "h", Header: &v1alpha1.SetHeaderRoute{Name: "h"}}, ""},
		{router.ManagedRoute{Name: "h", Header: &v1alpha1.SetHeaderRoute{Name: "h", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X", HeaderValue: v1alpha1.StringMatch{Prefix: "1"}}}}}, "exactly only"},
		{router.ManagedRoute{Name: "Bad_Name", Header: &v1alpha1.SetHeaderRoute{Name: "Bad_Name", Match: exact}}, "DNS-1035"},
		{router.ManagedRoute{Name: "app-canary", Header: &v1alpha1.SetHeaderRoute{Name: "app-canary", Match: exact}}, "name of a Service"},
		{router.ManagedRoute{Name: "m", Mirror: &v1alpha1.SetMirrorRoute{Name: "m"}}, "ALB cannot mirror"},
	} {
		err := r.CanCarry(tc.route)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: err %v, want %q", tc.route, err, tc.err)
		}
	}
	if _, err := New(router.Config{Rollout: testRollout(`{"ingress":"web","servicePort":80}`), MaxWeight: 1000}); err == nil ||
		!strings.Contains(err.Error(), "go up to 999") {
		t.Fatalf("maxTrafficWeight 1000: %v", err)
	}
}

// The router against a fake API: weight set then read back, written once,
// a hand edit read as -1, header routes added and removed, the managed
// record kept.
func TestRouterOnFakeAPI(t *testing.T) {
	ctx := context.Background()
	ing := albIngress(networkingv1.ServiceBackendPort{Name: useAnnotation})
	ing.Annotations = map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}
	c := fake.NewClientBuilder().WithObjects(ing).Build()
	ro := testRollout(`{"ingress":"web","servicePort":80}`, "hdr")
	r, err := New(router.Config{Reader: c, Writer: c, Rollout: ro, Stable: "app-stable", Canary: "app-canary", MaxWeight: 100, Managed: []string{"hdr"}})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := r.Weight(ctx); err != nil || w != -1 {
		t.Fatalf("before any write: %d, %v; want -1", w, err)
	}
	if wrote, err := r.SetWeight(ctx, 20); err != nil || !wrote {
		t.Fatalf("set 20: %v %v", wrote, err)
	}
	if wrote, _ := r.SetWeight(ctx, 20); wrote {
		t.Fatal("setting 20 again wrote")
	}
	if w, err := r.Weight(ctx); err != nil || w != 20 {
		t.Fatalf("read %d, %v", w, err)
	}
	route := router.ManagedRoute{Name: "hdr", Header: &v1alpha1.SetHeaderRoute{Name: "hdr", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Canary", HeaderValue: v1alpha1.StringMatch{Exact: "yes"}}}}}
	if wrote, err := r.SetManagedRoutes(ctx, []router.ManagedRoute{route}); err != nil || !wrote {
		t.Fatalf("add route: %v %v", wrote, err)
	}
	var got networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &got); err != nil {
		t.Fatal(err)
	}
	a := got.Annotations
	if a["alb.ingress.kubernetes.io/conditions.hdr"] != `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]` ||
		a["alb.ingress.kubernetes.io/actions.hdr"] == "" || a["alb.ingress.kubernetes.io/scheme"] != "internet-facing" ||
		a[ManagedKey] != `{"app":["alb.ingress.kubernetes.io/actions.app-stable","alb.ingress.kubernetes.io/actions.hdr","alb.ingress.kubernetes.io/conditions.hdr"]}` {
		t.Fatalf("annotations with the route: %v", a)
	}
	if p := got.Spec.Rules[0].HTTP.Paths[0]; p.Backend.Service.Name != "hdr" || p.Backend.Service.Port.Name != useAnnotation {
		t.Fatalf("route path %+v", p)
	}
	if wrote, err := r.SetManagedRoutes(ctx, nil); err != nil || !wrote {
		t.Fatalf("remove routes: %v %v", wrote, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations["alb.ingress.kubernetes.io/actions.hdr"]; ok || len(got.Spec.Rules[0].HTTP.Paths) != 2 ||
		got.Annotations[ManagedKey] != `{"app":["alb.ingress.kubernetes.io/actions.app-stable"]}` {
		t.Fatalf("after removal: %v %+v", got.Annotations, got.Spec.Rules[0].HTTP.Paths)
	}
	got.Annotations["alb.ingress.kubernetes.io/actions.app-stable"] = `{"Type":"forward"}`
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if w, _ := r.Weight(ctx); w != -1 {
		t.Fatalf("a hand-edited action read as %d, want -1", w)
	}
}

// Any input either fails with a message or names an Ingress and a port; a
// weight written reads back on any total up to 999.
func FuzzParseConfigAndWeights(f *testing.F) {
	f.Add([]byte(`{"ingress":"web","servicePort":80}`), int32(20), int32(100))
	f.Add([]byte(`{"ingresses":["a"],"servicePort":1,"stickinessConfig":{"enabled":true,"durationSeconds":5}}`), int32(7), int32(999))
	f.Fuzz(func(t *testing.T, raw []byte, w, max int32) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return
		}
		if len(cfg.refs()) == 0 || cfg.ServicePort < 1 {
			t.Fatalf("accepted %q", raw)
		}
		if max <= 0 || max > MaxWeight {
			return
		}
		w = ((w % (max + 1)) + max + 1) % (max + 1)
		s := &services{canary: "c", stable: "s", port: cfg.ServicePort, sticky: cfg.StickinessConfig}
		if got := s.splitWeight(encode(s.split(w, max)), max); got != w {
			t.Fatalf("wrote %d of %d, read %d", w, max, got)
		}
	})
}
