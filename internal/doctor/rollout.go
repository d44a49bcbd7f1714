package doctor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/rolloutview"
	"github.com/sluice-dev/sluice/internal/router"
	"github.com/sluice-dev/sluice/internal/router/routers"
	"github.com/sluice-dev/sluice/internal/validation"
)

const hashLabel = "rollouts-pod-template-hash"

// checkRollout runs the per-Rollout checks.
func checkRollout(ctx context.Context, s Snapshot, ro *v1alpha1.Rollout, controller string, probe MetricProbe) []Finding {
	obj := "rollout " + key(ro.Namespace, ro.Name)
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{Severity: sev, Object: obj, Check: check, Message: msg, Fix: fix})
	}

	// What the controller itself reports (and a spec it never acted on).
	info := rolloutview.Build(rolloutview.Objects{Rollout: ro}, rolloutview.Options{Now: s.Now, Command: s.Command})
	sev := Warning // e.g. an inconclusive analysis waiting for a person
	if !rolloutview.Observed(ro) || info.Status == string(v1alpha1.RolloutPhaseDegraded) {
		sev = Error
	}
	for _, why := range info.Why {
		if strings.Contains(why, "(spec.workloadRef) still serves pods") {
			continue // checkWorkload reports it as seed bug #3
		}
		cause, fix, _ := strings.Cut(why, " → ")
		add(sev, "status", cause, fix)
	}
	if len(info.Why) == 0 && info.Status == string(v1alpha1.RolloutPhaseDegraded) {
		add(Error, "status", "Degraded: "+info.Message, fmt.Sprintf("%s get rollout %s -n %s", s.Command, ro.Name, ro.Namespace))
	}

	for _, e := range validation.UnimplementedRolloutFields(ro) {
		add(Error, "fields", e.Field+" "+validation.NotImplementedDetail,
			"remove "+e.Field+", or leave this Rollout to Argo Rollouts (docs/fields.md)")
	}

	if c := ro.Spec.Strategy.Canary; c != nil {
		out = append(out, checkRouter(s, ro, obj, controller)...)
		out = append(out, checkCanaryServices(s, ro, obj)...)
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		for field, name := range map[string]string{"activeService": bg.ActiveService, "previewService": bg.PreviewService} {
			if name != "" && s.Services[key(ro.Namespace, name)] == nil {
				add(Error, "service", fmt.Sprintf("Service %q (spec.strategy.blueGreen.%s) does not exist", name, field), "create it, or fix the name")
			}
		}
	}
	out = append(out, checkWorkload(s, ro, obj)...)
	out = append(out, checkAnalysis(ctx, s, ro, obj, probe)...)
	if len(out) == 0 {
		add(OK, "rollout", fmt.Sprintf("%s, %s: nothing found", info.Strategy, info.Status), "")
	}
	return out
}

// checkRouter is seed bug #1: a traffic router the controller cannot use
// stalls every reconcile.
func checkRouter(s Snapshot, ro *v1alpha1.Rollout, obj, controller string) []Finding {
	tr := ro.Spec.Strategy.Canary.TrafficRouting
	if tr == nil {
		return nil
	}
	var out []Finding
	names := make([]string, 0, len(tr.Plugins))
	for n := range tr.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case controller == "argo" && !s.ArgoPlugins[n]:
			out = append(out, Finding{Severity: Error, Object: obj, Check: "seed bug #1: traffic router",
				Message: fmt.Sprintf("traffic-router plugin %q is not configured for the Argo Rollouts controller (ConfigMap argo-rollouts-config, trafficRouterPlugins): every reconcile of this Rollout fails", n),
				Fix:     "add the plugin to argo-rollouts-config and restart the controller, or remove spec.strategy.canary.trafficRouting"})
		case controller == "sluice" && n != v1alpha1.GatewayAPIPluginName:
			out = append(out, Finding{Severity: Error, Object: obj, Check: "seed bug #1: traffic router",
				Message: fmt.Sprintf("traffic-router plugin %q is not one Sluice carries: the Rollout cannot progress", n),
				Fix:     "use " + v1alpha1.GatewayAPIPluginName + ", or remove spec.strategy.canary.trafficRouting for a replica-count canary"})
		case n == v1alpha1.GatewayAPIPluginName:
			out = append(out, checkRoute(s, ro, obj, tr.Plugins[n].Raw)...)
		}
	}
	for _, n := range routers.Unavailable(tr) {
		if controller == "sluice" && !strings.HasPrefix(n, "plugin ") {
			out = append(out, Finding{Severity: Error, Object: obj, Check: "seed bug #1: traffic router",
				Message: fmt.Sprintf("traffic router %s is not one Sluice carries: the Rollout cannot progress", n),
				Fix:     "use one it carries (" + strings.Join(routers.Carried(), ", ") + "), or remove spec.strategy.canary.trafficRouting"})
		}
	}
	if err := s.RouterProblems[key(ro.Namespace, ro.Name)]; err != nil {
		msg, fix := err.Error(), "fix what the message names; the Rollout stays where it is until then"
		var re *router.Error
		if errors.As(err, &re) {
			msg = re.Message
			switch re.Reason {
			case router.ReasonRouterNotInstall:
				fix = "install the router's CRDs, or remove spec.strategy.canary.trafficRouting"
			case router.ReasonRouteNotFound:
				fix = "create it, or fix the name in the Rollout"
			}
		}
		out = append(out, Finding{Severity: Error, Object: obj, Check: "traffic router", Message: msg, Fix: fix})
	}
	return out
}

// checkCanaryServices is seed bug #2: a canary or stable Service that
// selects every pod of the app splits traffic by accident.
func checkCanaryServices(s Snapshot, ro *v1alpha1.Rollout, obj string) []Finding {
	c := ro.Spec.Strategy.Canary
	var out []Finding
	for _, f := range []struct{ field, name string }{{"stableService", c.StableService}, {"canaryService", c.CanaryService}} {
		if f.name == "" {
			continue
		}
		svc := s.Services[key(ro.Namespace, f.name)]
		switch {
		case svc == nil:
			out = append(out, Finding{Severity: Error, Object: obj, Check: "service",
				Message: fmt.Sprintf("Service %q (spec.strategy.canary.%s) does not exist", f.name, f.field), Fix: "create it, or fix the name"})
		case svc.Spec.Selector[hashLabel] == "" && rolloutview.Observed(ro):
			managed := "no traffic router manages it (there is no trafficRouting), so it never will"
			if c.TrafficRouting != nil {
				managed = "the controller narrows it to one ReplicaSet (" + hashLabel + ") only while the traffic router works, and has not"
			}
			out = append(out, Finding{Severity: Warning, Object: obj, Check: "seed bug #2: service selector",
				Message: fmt.Sprintf("Service %q (%s) selects every pod of the app, stable and canary alike: %s", f.name, f.field, managed),
				Fix:     "use trafficRouting (the controller then sets the selector), or drop " + f.field + " and let one Service split by pod count"})
		}
	}
	return out
}

// checkWorkload is seed bug #3: the Deployment named by workloadRef keeps
// serving beside the Rollout.
func checkWorkload(s Snapshot, ro *v1alpha1.Rollout, obj string) []Finding {
	ref := ro.Spec.WorkloadRef
	if ref == nil {
		return nil
	}
	d := s.Deployments[key(ro.Namespace, ref.Name)]
	if d == nil {
		return []Finding{{Severity: Error, Object: obj, Check: "workloadRef",
			Message: fmt.Sprintf("Deployment %q (spec.workloadRef) does not exist", ref.Name), Fix: "create it, or fix spec.workloadRef.name"}}
	}
	if (ref.ScaleDown == "" || ref.ScaleDown == v1alpha1.ScaleDownNever) && d.Status.AvailableReplicas > 0 && ro.Status.AvailableReplicas > 0 {
		policy := ref.ScaleDown
		if policy == "" {
			policy = "unset, which means never"
		}
		return []Finding{{Severity: Warning, Object: obj, Check: "seed bug #3: workloadRef.scaleDown",
			Message: fmt.Sprintf("Deployment %q still has %d available pod(s) serving beside the Rollout's %d (scaleDown: %s)",
				ref.Name, d.Status.AvailableReplicas, ro.Status.AvailableReplicas, policy),
			Fix: "set spec.workloadRef.scaleDown: onsuccess (or progressively)"}}
	}
	return nil
}
