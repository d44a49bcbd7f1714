package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/doctor"
	"github.com/sluice-dev/sluice/internal/router/gatewayapi"
)

func newDoctorCmd(o *options) *cobra.Command {
	var all, noMetrics, strict, migrate bool
	var output, instanceID string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Look for the latent problems that let a Rollout look fine while it cannot work",
		Long: `Checks the Rollouts of a namespace (or, with -A, of every namespace) and the
cluster around them for the problems that hid for 39 days in the seeds'
setup, and the plain ones:

  controller              no Rollouts controller, or none of its pods ready
  status                  what the controller reports (Degraded, a spec it never acted on)
  seed bug #1             a traffic-router plugin the controller cannot use
                          (for Argo Rollouts: missing from ConfigMap argo-rollouts-config)
  seed bug #2             a stable/canary Service that selects every pod of the app
  seed bug #3             a workloadRef Deployment still serving (scaleDown never)
  seed bug #4             an error-rate query that counts only 5xx as errors
  seed bug #5             an analysis query that returns no data right now
  service, workloadRef,   a Service, Deployment, AnalysisTemplate or HTTPRoute the
  analysis template,      Rollout names that does not exist, or the Gateway API
  traffic router          not installed

With --migrate it checks instead what Sluice would do on taking each Rollout
over from the controller that runs it now (Argo Rollouts): the ReplicaSet it
would adopt as the current revision and why (the same hash, or the same pod
template under another hash, compared with the API server's defaults in a
dry run), orphans it would claim, the step it would resume at, and what it
would refuse or hold. Nothing is changed; exit code 1 when a takeover would
not be seamless.

Analysis queries are run against their Prometheus address (skip with
--no-metrics); an address that is a cluster Service (name.namespace.svc) is
reached through the API server's service proxy when it does not resolve from
here. Exit code 1 when there is an error (with --strict, a warning too).`,
		Example: examples(`
  SLUICE doctor -n litellm
  SLUICE doctor -A --no-metrics
  SLUICE doctor -n litellm -o json
  SLUICE doctor -A --migrate             # before switching from Argo Rollouts`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("unknown output format %q (want json)", output)
			}
			c, err := o.clients()
			if err != nil {
				return err
			}
			ns := c.scope(all)
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if migrate {
				findings, n, err := c.migrateFindings(ctx, ns, instanceID)
				if err != nil {
					return err
				}
				return printFindings(cmd.OutOrStdout(), findings, n, output, strict)
			}
			snap, err := c.doctorSnapshot(ctx, ns)
			if err != nil {
				return err
			}
			var probe doctor.MetricProbe
			if !noMetrics {
				probe = c.promProbe
			}
			findings := doctor.Check(ctx, *snap, probe)
			return printFindings(cmd.OutOrStdout(), findings, len(snap.Rollouts), output, strict)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "check the Rollouts of every namespace")
	cmd.Flags().BoolVar(&noMetrics, "no-metrics", false, "do not run the analysis queries")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json: print the findings as JSON")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "preflight a switch from Argo Rollouts: what Sluice would do on taking each Rollout over (read-only)")
	cmd.Flags().StringVar(&instanceID, "instance-id", "", "with --migrate: the --instance-id the Sluice controller will run with")
	return cmd
}

func printFindings(out io.Writer, fs []doctor.Finding, rollouts int, output string, strict bool) error {
	n := map[doctor.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	if output == "json" {
		type sev struct {
			doctor.Finding
			Severity string `json:"severity"`
		}
		list := make([]sev, len(fs))
		for i, f := range fs {
			list[i] = sev{f, f.Severity.String()}
		}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	} else {
		icon := map[doctor.Severity]string{doctor.OK: "✔", doctor.Warning: "⚠", doctor.Error: "✖"}
		for _, f := range fs {
			fmt.Fprintf(out, "%s %s  [%s]\n    %s\n", icon[f.Severity], f.Object, f.Check, f.Message)
			if f.Fix != "" {
				fmt.Fprintf(out, "    → %s\n", f.Fix)
			}
		}
		fmt.Fprintf(out, "\n%d error(s), %d warning(s); %d Rollout(s) checked\n", n[doctor.Error], n[doctor.Warning], rollouts)
	}
	if n[doctor.Error] > 0 || (strict && n[doctor.Warning] > 0) {
		return &ExitError{Code: 1, Err: fmt.Errorf("doctor found %d error(s) and %d warning(s)", n[doctor.Error], n[doctor.Warning])}
	}
	return nil
}

var httpRoutesGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// doctorSnapshot reads the Rollouts and what they name.
func (c *clients) doctorSnapshot(ctx context.Context, ns string) (*doctor.Snapshot, error) {
	ros, err := c.listRollouts(ctx, ns)
	if err != nil {
		return nil, err
	}
	s := &doctor.Snapshot{Now: time.Now(), Command: prog(), Rollouts: ros, ArgoPlugins: map[string]bool{},
		Services: map[string]*corev1.Service{}, Deployments: map[string]*appsv1.Deployment{},
		Templates: map[string]*v1alpha1.AnalysisTemplate{}, ClusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{}}
	if s.Controllers, err = findControllers(ctx, c); err != nil && len(s.Controllers) == 0 {
		s.ControllerSearchErr = firstLine(err.Error())
	}
	for _, d := range s.Controllers {
		cm, err := c.kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, "argo-rollouts-config", metav1.GetOptions{})
		if err != nil {
			continue
		}
		var plugins []struct{ Name string }
		_ = yaml.Unmarshal([]byte(cm.Data["trafficRouterPlugins"]), &plugins)
		for _, p := range plugins {
			s.ArgoPlugins[p.Name] = true
		}
	}
	if res, err := c.kube.Discovery().ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1"); err == nil {
		for _, r := range res.APIResources {
			if r.Name == "httproutes" {
				s.HTTPRoutes = map[string]*gwv1.HTTPRoute{}
			}
		}
	}
	for i := range ros {
		if err := c.readNamed(ctx, &ros[i], s); err != nil {
			return nil, err
		}
	}
	if s.RouterProblems, err = c.readRouters(ctx, ros); err != nil {
		return nil, err
	}
	return s, nil
}

// readNamed reads the Services, Deployment, templates and routes a Rollout
// names; a missing one is simply absent from the snapshot.
func (c *clients) readNamed(ctx context.Context, ro *v1alpha1.Rollout, s *doctor.Snapshot) error {
	ns := ro.Namespace
	keep := func(err error) error {
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	var svcs []string
	if cn := ro.Spec.Strategy.Canary; cn != nil {
		svcs = append(svcs, cn.StableService, cn.CanaryService)
		if tr := cn.TrafficRouting; tr != nil && s.HTTPRoutes != nil {
			if raw, ok := tr.Plugins[v1alpha1.GatewayAPIPluginName]; ok {
				if cfg, err := gatewayapi.ParseConfig(raw.Raw); err == nil {
					rns := ns
					if cfg.Namespace != "" {
						rns = cfg.Namespace
					}
					names := []string{cfg.HTTPRoute}
					for _, r := range cfg.HTTPRoutes {
						names = append(names, r.Name)
					}
					for _, n := range names {
						if n == "" {
							continue
						}
						u, err := c.dyn.Resource(httpRoutesGVR).Namespace(rns).Get(ctx, n, metav1.GetOptions{})
						if err != nil {
							if keep(err) != nil {
								return fmt.Errorf("reading HTTPRoute %s/%s: %w", rns, n, err)
							}
							continue
						}
						var rt gwv1.HTTPRoute
						if err := fromUnstructured(u, &rt); err != nil {
							return fmt.Errorf("decoding HTTPRoute %s/%s: %w", rns, n, err)
						}
						s.HTTPRoutes[rns+"/"+n] = &rt
					}
				}
			}
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		svcs = append(svcs, bg.ActiveService, bg.PreviewService)
	}
	for _, name := range svcs {
		if name == "" || s.Services[ns+"/"+name] != nil {
			continue
		}
		svc, err := c.kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			s.Services[ns+"/"+name] = svc
		} else if keep(err) != nil {
			return fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
		}
	}
	if ref := ro.Spec.WorkloadRef; ref != nil {
		d, err := c.kube.AppsV1().Deployments(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			s.Deployments[ns+"/"+ref.Name] = d
		} else if keep(err) != nil {
			return fmt.Errorf("reading Deployment %s/%s: %w", ns, ref.Name, err)
		}
	}
	for _, a := range doctorAnalyses(ro) {
		for _, t := range a.Templates {
			gvr, tns, into := analysisTemplatesGVR, ns, any(&v1alpha1.AnalysisTemplate{})
			if t.ClusterScope {
				gvr, tns, into = clusterAnalysisTemplatesGVR, "", &v1alpha1.ClusterAnalysisTemplate{}
			}
			u, err := c.dyn.Resource(gvr).Namespace(tns).Get(ctx, t.TemplateName, metav1.GetOptions{})
			if err != nil {
				if keep(err) != nil {
					return fmt.Errorf("reading %s %q: %w", gvr.Resource, t.TemplateName, err)
				}
				continue
			}
			if err := fromUnstructured(u, into); err != nil {
				return err
			}
			switch v := into.(type) {
			case *v1alpha1.AnalysisTemplate:
				s.Templates[ns+"/"+t.TemplateName] = v
			case *v1alpha1.ClusterAnalysisTemplate:
				s.ClusterTemplates[t.TemplateName] = v
			}
		}
	}
	return nil
}

func doctorAnalyses(ro *v1alpha1.Rollout) []*v1alpha1.RolloutAnalysis {
	var out []*v1alpha1.RolloutAnalysis
	if cn := ro.Spec.Strategy.Canary; cn != nil {
		for i := range cn.Steps {
			if cn.Steps[i].Analysis != nil {
				out = append(out, cn.Steps[i].Analysis)
			}
		}
		if cn.Analysis != nil {
			out = append(out, &cn.Analysis.RolloutAnalysis)
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		for _, a := range []*v1alpha1.RolloutAnalysis{bg.PrePromotionAnalysis, bg.PostPromotionAnalysis} {
			if a != nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// clusterService matches a Service's in-cluster host: name.namespace[.svc[.cluster.local]].
var clusterService = regexp.MustCompile(`^([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?$`)

// promProbe runs an instant query and counts the samples. An address that
// does not resolve here but names a cluster Service goes through the API
// server's service proxy.
func (c *clients) promProbe(ctx context.Context, address, query string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := url.Parse(strings.TrimSuffix(address, "/"))
	if err != nil {
		return 0, err
	}
	params := url.Values{"query": {query}}
	var body []byte
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/api/v1/query?"+params.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		defer resp.Body.Close()
		if body, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20)); err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(string(body)))
		}
	case errors.As(err, &dnsErr) && clusterService.MatchString(u.Hostname()):
		m := clusterService.FindStringSubmatch(u.Hostname())
		port := u.Port()
		if port == "" {
			port = "80"
		}
		path := strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
		body, err = c.kube.CoreV1().Services(m[2]).ProxyGet(u.Scheme, m[1], port, path, map[string]string{"query": query}).DoRaw(ctx)
		if err != nil {
			return 0, fmt.Errorf("through the API server's service proxy: %w", err)
		}
	default:
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("not a Prometheus answer: %v", err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", r.Error)
	}
	var samples []json.RawMessage
	if r.Data.ResultType == "vector" || r.Data.ResultType == "matrix" {
		_ = json.Unmarshal(r.Data.Result, &samples)
		return len(samples), nil
	}
	return 1, nil // a scalar or string is one value
}
