package metrics

import (
	"net/http"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// CountingRecorder counts the Events it records about Rollouts in
// rollout_events_total, then records them with the inner recorder.
type CountingRecorder struct{ events.EventRecorder }

// Eventf implements events.EventRecorder.
func (c CountingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	if ro, ok := regarding.(*v1alpha1.Rollout); ok {
		Events.WithLabelValues(ro.Namespace, ro.Name, eventtype, reason).Inc()
	}
	c.EventRecorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// ObjectKey is the namespace and name labels of an object.
func ObjectKey(o client.Object) (string, string) { return o.GetNamespace(), o.GetName() }

// CountRequests wraps a client transport so every request to the API server
// counts in controller_clientset_k8s_request_total{kind, namespace, name,
// verb, status_code}, as upstream counts them (name is "N/A" for lists,
// Events and ReplicaSets, to bound the series).
func CountRequests(rt http.RoundTripper) http.RoundTripper {
	return roundTripper{rt}
}

type roundTripper struct{ next http.RoundTripper }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	code := "Unknown"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	kind, ns, name, verb := describe(req)
	Requests.WithLabelValues(kind, ns, name, verb, code).Inc()
	return resp, err
}

// describe reads /api/v1/namespaces/NS/RESOURCE/NAME[/SUB] and
// /apis/GROUP/VERSION/... request paths.
func describe(req *http.Request) (kind, ns, name, verb string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "Unknown", "", "N/A", strings.ToLower(req.Method)
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		ns, parts = parts[1], parts[2:]
	}
	kind = "Unknown"
	if len(parts) > 0 {
		kind = parts[0]
	}
	if len(parts) > 1 {
		name = parts[1]
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true":
			verb = "Watch"
		case name == "":
			verb = "List"
		default:
			verb = "Get"
		}
	case http.MethodPost:
		verb = "Create"
	case http.MethodPut:
		verb = "Update"
	case http.MethodPatch:
		verb = "Patch"
	case http.MethodDelete:
		verb = "Delete"
	default:
		verb = "Unknown"
	}
	if name == "" || verb == "List" || verb == "Watch" || kind == "events" || kind == "replicasets" {
		name = "N/A"
	}
	return kind, ns, name, verb
}
