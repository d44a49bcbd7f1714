package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// The resources the CLI reads and patches. It uses nothing but the Argo
// Rollouts API and core kinds, so it works against an upstream controller too.
var (
	rolloutsGVR     = v1alpha1.GroupVersion.WithResource("rollouts")
	analysisRunsGVR = v1alpha1.GroupVersion.WithResource("analysisruns")

	analysisTemplatesGVR        = v1alpha1.GroupVersion.WithResource("analysistemplates")
	clusterAnalysisTemplatesGVR = v1alpha1.GroupVersion.WithResource("clusteranalysistemplates")
)

// operatorCommands are the operator's verbs, added to the root command.
//
// Run as the kubectl plugin (kubectl-sluice), it also names root the way
// cobra wants a plugin named: "kubectl-sluice", displayed as "kubectl sluice"
// in usage lines, so help reads `kubectl sluice ...` while shell completion
// scripts are generated for kubectl-sluice (kubectl's plugin completion) and
// never for kubectl itself.
func operatorCommands() []*cobra.Command {
	o := &options{flags: genericclioptions.NewConfigFlags(true)}
	cmds := []*cobra.Command{
		newGetCmd(o), newListCmd(o), newStatusCmd(o),
		newPromoteCmd(o), newAbortCmd(o), newRetryCmd(o), newPauseCmd(o), newRestartCmd(o),
		newSetCmd(o), newUndoCmd(o), newDoctorCmd(o), newRehearseCmd(o),
	}
	for _, c := range cmds {
		if c.PersistentFlags().Lookup("kubeconfig") == nil {
			o.addFlags(c)
		}
	}
	return append(cmds, newLintCmd())
}

// options are the kubeconfig flags every verb that talks to a cluster shares
// (--kubeconfig, --context, -n/--namespace, ...), as kubectl spells them.
type options struct {
	flags *genericclioptions.ConfigFlags
}

// addFlags puts the kubeconfig flags on cmd and completes -n and rollout names.
func (o *options) addFlags(cmd *cobra.Command) {
	o.flags.AddFlags(cmd.PersistentFlags())
	_ = cmd.RegisterFlagCompletionFunc("namespace", o.completeNamespaces)
	_ = cmd.RegisterFlagCompletionFunc("context", o.completeContexts)
}

// prog is how the binary was invoked: "kubectl sluice" as a kubectl plugin.
func prog() string {
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-sluice") {
		return "kubectl sluice"
	}
	return "sluice"
}

// examples fills the program name into a command's examples.
func examples(s string) string {
	return strings.ReplaceAll(strings.Trim(s, "\n"), "SLUICE", prog())
}

// clients reach one namespace of one cluster.
type clients struct {
	dyn  dynamic.Interface
	kube kubernetes.Interface
	ns   string
	cfg  *rest.Config
}

func (o *options) clients() (*clients, error) {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	c := &clients{ns: ns, cfg: cfg}
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// fromUnstructured decodes an API object into one of Sluice's types.
func fromUnstructured(u *unstructured.Unstructured, into any) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// rolloutError says plainly which of "no such Rollout" and "no Rollout API
// in this cluster" happened.
func (c *clients) rolloutError(name string, err error) error {
	var st apierrors.APIStatus
	if apierrors.IsNotFound(err) && errors.As(err, &st) {
		if d := st.Status().Details; d != nil && name != "" && d.Name == name {
			return fmt.Errorf("rollout %q not found in namespace %q", name, c.ns)
		}
		return fmt.Errorf("the argoproj.io/v1alpha1 Rollout API is not installed in this cluster (install the CRDs): %w", err)
	}
	return err
}

func (c *clients) getRollout(ctx context.Context, name string) (*v1alpha1.Rollout, error) {
	u, err := c.dyn.Resource(rolloutsGVR).Namespace(c.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, c.rolloutError(name, err)
	}
	var ro v1alpha1.Rollout
	if err := fromUnstructured(u, &ro); err != nil {
		return nil, fmt.Errorf("decoding rollout %q: %w", name, err)
	}
	return &ro, nil
}

// scope is the namespace a listing covers: c's, or every one with -A.
func (c *clients) scope(all bool) string {
	if all {
		return ""
	}
	return c.ns
}

func (c *clients) listRollouts(ctx context.Context, ns string) ([]v1alpha1.Rollout, error) {
	list, err := c.dyn.Resource(rolloutsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.rolloutError("", err)
	}
	out := make([]v1alpha1.Rollout, len(list.Items))
	for i := range list.Items {
		if err := fromUnstructured(&list.Items[i], &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// managedSelector picks the ReplicaSets and Pods a Rollout manages.
var managedSelector = metav1.ListOptions{LabelSelector: rolloutview.PodTemplateHashLabel}

// objects reads what the tree shows around ro: ReplicaSets, Pods and
// AnalysisRuns of its namespace. Pods and AnalysisRuns are optional: a user
// without access to them still gets the rest.
func (c *clients) objects(ctx context.Context, ro *v1alpha1.Rollout, withPods bool) (rolloutview.Objects, error) {
	o := rolloutview.Objects{Rollout: ro}
	rss, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).List(ctx, managedSelector)
	if err != nil {
		return o, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	o.ReplicaSets = rss.Items
	if withPods {
		if pods, err := c.kube.CoreV1().Pods(ro.Namespace).List(ctx, managedSelector); err == nil {
			o.Pods = pods.Items
		} else if !optional(err) {
			return o, fmt.Errorf("listing Pods: %w", err)
		}
	}
	if list, err := c.dyn.Resource(analysisRunsGVR).Namespace(ro.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range list.Items {
			var ar v1alpha1.AnalysisRun
			if fromUnstructured(&list.Items[i], &ar) == nil {
				o.AnalysisRuns = append(o.AnalysisRuns, ar)
			}
		}
	} else if !optional(err) {
		return o, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	return o, nil
}

// optional errors leave a part of the tree out instead of failing.
func optional(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

// patchRollout sends a JSON merge patch to the Rollout, or to its status
// subresource, where upstream's controller expects operator requests.
func (c *clients) patchRollout(ctx context.Context, name string, pt types.PatchType, patch string, status bool) error {
	var sub []string
	if status {
		sub = []string{"status"}
	}
	_, err := c.dyn.Resource(rolloutsGVR).Namespace(c.ns).Patch(ctx, name, pt, []byte(patch), metav1.PatchOptions{}, sub...)
	if err != nil {
		return c.rolloutError(name, err)
	}
	return nil
}

func (c *clients) ownedReplicaSets(ctx context.Context, ro *v1alpha1.Rollout) ([]appsv1.ReplicaSet, error) {
	list, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).List(ctx, managedSelector)
	if err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Rollout" && ref.UID == ro.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor: only on a terminal, and never with --no-color, NO_COLOR or TERM=dumb.
func useColor(w io.Writer, noColor bool) bool {
	return !noColor && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(w)
}
