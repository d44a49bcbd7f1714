// Package doctor looks for the latent problems that let a progressive
// delivery setup look healthy while it cannot work: the five bugs the seeds
// found after 39 days (a traffic-router plugin the controller cannot load, a
// canary Service selecting every pod, a Deployment left serving beside the
// Rollout, an error-rate query that ignores 4xx, a metric that does not
// exist), and the plain ones (no controller, missing templates, Services or
// routes). It is pure: the CLI reads a Snapshot of the cluster, Check returns
// findings, and an optional MetricProbe runs the analysis queries.
package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Severity ranks a finding.
type Severity int

// Severities, worst last.
const (
	OK Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	return [...]string{"ok", "warning", "error"}[s]
}

// Finding is one thing doctor noticed.
type Finding struct {
	Severity Severity `json:"severity"`
	// Object is what it is about: "rollout demo/litellm", "cluster".
	Object string `json:"object"`
	// Check names the check, e.g. "traffic-router", "seed bug #4".
	Check   string `json:"check"`
	Message string `json:"message"`
	// Fix says what to do; empty for OK findings.
	Fix string `json:"fix,omitempty"`
}

// Snapshot is what the CLI read from the cluster.
type Snapshot struct {
	Now time.Time
	// Command is how the CLI is invoked, for suggested commands.
	Command  string
	Rollouts []v1alpha1.Rollout
	// Controllers are the Deployments that look like a Rollouts controller
	// (Sluice's or Argo Rollouts').
	Controllers []appsv1.Deployment
	// ControllerSearchErr says why Controllers could not be listed.
	ControllerSearchErr string
	// ArgoPlugins are the traffic-router plugins configured for an Argo
	// Rollouts controller (ConfigMap argo-rollouts-config), by name.
	ArgoPlugins map[string]bool
	// Objects the Rollouts name, keyed "namespace/name" (cluster templates by name).
	Services         map[string]*corev1.Service
	Deployments      map[string]*appsv1.Deployment
	Templates        map[string]*v1alpha1.AnalysisTemplate
	ClusterTemplates map[string]*v1alpha1.ClusterAnalysisTemplate
	// HTTPRoutes is nil when the Gateway API is not installed.
	HTTPRoutes map[string]*gwv1.HTTPRoute
	// RouterProblems says, by Rollout ("namespace/name"), why its built-in
	// traffic router (nginx, istio, smi, traefik, alb) could not be read as
	// the controller reads it: the kind not installed, an object missing,
	// an object that does not name the Services.
	RouterProblems map[string]error
}

// MetricProbe runs a PromQL query now and says how many samples came back.
type MetricProbe func(ctx context.Context, address, query string) (samples int, err error)

// Check runs every check over the snapshot; probe may be nil.
func Check(ctx context.Context, s Snapshot, probe MetricProbe) []Finding {
	var out []Finding
	add := func(f Finding) { out = append(out, f) }
	argo := controllerKind(s.Controllers)
	switch {
	case len(s.Controllers) == 0 && s.ControllerSearchErr != "":
		add(Finding{Severity: Warning, Object: "cluster", Check: "controller",
			Message: "could not look for a Rollouts controller: " + s.ControllerSearchErr,
			Fix:     "run doctor with a user that may list Deployments in every namespace"})
	case len(s.Controllers) == 0:
		add(Finding{Severity: Warning, Object: "cluster", Check: "controller",
			Message: "no Rollouts controller Deployment found (a controller running outside the cluster cannot be seen)",
			Fix:     "install one (kubectl apply -k config/default), or run sluice controller"})
	default:
		for _, d := range s.Controllers {
			sev, msg := OK, fmt.Sprintf("controller %s/%s: %d/%d ready", d.Namespace, d.Name, d.Status.ReadyReplicas, replicas(d.Spec.Replicas))
			fix := ""
			if d.Status.ReadyReplicas == 0 {
				sev, fix = Error, fmt.Sprintf("kubectl describe deployment %s -n %s", d.Name, d.Namespace)
				msg += ": no controller pod is ready, so no Rollout moves"
			}
			add(Finding{Severity: sev, Object: "cluster", Check: "controller", Message: msg, Fix: fix})
		}
	}
	for i := range s.Rollouts {
		out = append(out, checkRollout(ctx, s, &s.Rollouts[i], argo, probe)...)
	}
	return out
}

// controllerKind is "argo" when the only controllers found are Argo
// Rollouts', "sluice" otherwise.
func controllerKind(ds []appsv1.Deployment) string {
	argo := len(ds) > 0
	for _, d := range ds {
		isArgo := false
		for _, c := range d.Spec.Template.Spec.Containers {
			if strings.Contains(c.Image, "argo-rollouts") || strings.Contains(c.Image, "argoproj/") {
				isArgo = true
			}
		}
		argo = argo && isArgo
	}
	if argo {
		return "argo"
	}
	return "sluice"
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func key(ns, name string) string { return ns + "/" + name }
