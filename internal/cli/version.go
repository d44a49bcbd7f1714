package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/sluice-dev/sluice/internal/version"
)

func newVersionCmd() *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the Sluice version, and the controller's when a cluster is reachable",
		Long: `Print the version of this binary and, when the cluster of the current
kubeconfig context is reachable, the version (image) of the progressive
delivery controller running in it: a Sluice controller Deployment, or an Argo
Rollouts one (the CLI works with both). A controller running outside the
cluster (sluice controller on a laptop) cannot be seen.`,
		Example: examples(`
  SLUICE version
  SLUICE version --client`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if _, err := fmt.Fprintf(out, "sluice: %s\n", version.String()); err != nil {
				return err
			}
			if clientOnly {
				return nil
			}
			printControllerVersion(cmd.Context(), &options{flags: flags}, out)
			return nil
		},
	}
	flags.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only this binary's version (do not contact the cluster)")
	return cmd
}

// controllerNames are the labels and names the Sluice and Argo Rollouts
// controller Deployments go by.
var controllerSelectors = []string{
	"app.kubernetes.io/name in (sluice,sluice-controller,argo-rollouts)",
	"app.kubernetes.io/component=rollouts-controller",
}

func printControllerVersion(ctx context.Context, o *options, out io.Writer) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := o.clients()
	if err != nil {
		fmt.Fprintf(out, "controller: unknown (no cluster configured: %v)\n", err)
		return
	}
	found, lastErr := findControllers(ctx, c)
	switch {
	case len(found) == 0 && lastErr != nil:
		fmt.Fprintf(out, "controller: unknown (cluster not reachable or not readable: %v)\n", firstLine(lastErr.Error()))
	case len(found) == 0:
		fmt.Fprintln(out, "controller: no controller Deployment found in the cluster (one running outside it cannot be seen)")
	}
	for _, d := range found {
		var images []string
		for _, ctr := range d.Spec.Template.Spec.Containers {
			images = append(images, ctr.Image)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		fmt.Fprintf(out, "controller: %s (deployment %s/%s, %d/%d ready)\n",
			strings.Join(images, ", "), d.Namespace, d.Name, d.Status.ReadyReplicas, want)
	}
}

// findControllers lists the Deployments that look like a Rollouts
// controller (Sluice's or Argo Rollouts'), in every namespace. The error is
// the last listing that failed.
func findControllers(ctx context.Context, c *clients) ([]appsv1.Deployment, error) {
	seen := map[string]bool{}
	var found []appsv1.Deployment
	var lastErr error
	for _, sel := range controllerSelectors {
		list, err := c.kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			lastErr = err
			continue
		}
		for _, d := range list.Items {
			if key := d.Namespace + "/" + d.Name; !seen[key] {
				seen[key] = true
				found = append(found, d)
			}
		}
	}
	return found, lastErr
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
