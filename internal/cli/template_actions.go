// The verbs that change the pod template — set image and undo — on the
// Rollout, or on the Deployment its workloadRef names.

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/internal/controller/rollout"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// jsonOp is one RFC 6902 operation.
type jsonOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func newSetCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change a Rollout's pod template",
		Example: examples(`
  SLUICE set image litellm -n litellm litellm=ghcr.io/berriai/litellm-database:main-v1.83.14-stable`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.addFlags(cmd)
	img := &cobra.Command{
		Use:   "image NAME CONTAINER=IMAGE [CONTAINER=IMAGE...]",
		Short: "Set container images; this starts an update (a new revision)",
		Long: `Set the image of one or more containers (or every container, with *=IMAGE),
which starts an update. For a Rollout with spec.workloadRef the referenced
Deployment's template is patched — it is the source of truth — and the
Rollout picks the change up from there.`,
		Example: examples(`
  SLUICE set image web -n shop web=nginx:1.28

  # workloadRef: patches Deployment litellm, the Rollout follows
  SLUICE set image litellm -n litellm litellm=ghcr.io/berriai/litellm-database:main-v1.83.14-stable`),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("set image takes NAME CONTAINER=IMAGE [CONTAINER=IMAGE...]")
			}
			return nil
		},
		ValidArgsFunction: o.completeRollouts,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.clients()
			if err != nil {
				return err
			}
			return setImage(cmd.Context(), c, args[0], args[1:], cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(img)
	return cmd
}

func setImage(ctx context.Context, c *clients, name string, pairs []string, out io.Writer) error {
	want := map[string]string{}
	var order []string
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("%q is not CONTAINER=IMAGE", p)
		}
		want[k] = v
		order = append(order, k)
	}
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	var tmpl *corev1.PodTemplateSpec
	var d *appsv1.Deployment
	if ref := ro.Spec.WorkloadRef; ref != nil {
		if d, err = c.kube.AppsV1().Deployments(c.ns).Get(ctx, ref.Name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("Deployment %q named by spec.workloadRef of rollout %q not found in namespace %q", ref.Name, name, c.ns)
			}
			return err
		}
		tmpl = &d.Spec.Template
	} else if ro.Spec.Template != nil {
		tmpl = ro.Spec.Template
	} else {
		return fmt.Errorf("rollout %q has neither spec.template nor spec.workloadRef", name)
	}
	var ops []jsonOp
	var changed []string
	matched := map[string]bool{}
	var names []string
	for _, list := range []struct {
		field string
		cs    []corev1.Container
	}{{"initContainers", tmpl.Spec.InitContainers}, {"containers", tmpl.Spec.Containers}} {
		for i, ctr := range list.cs {
			names = append(names, ctr.Name)
			img, ok := want[ctr.Name]
			if !ok {
				img, ok = want["*"]
			}
			if !ok {
				continue
			}
			matched[ctr.Name], matched["*"] = true, true
			if ctr.Image == img {
				continue
			}
			base := fmt.Sprintf("/spec/template/spec/%s/%d", list.field, i)
			ops = append(ops, jsonOp{Op: "test", Path: base + "/name", Value: ctr.Name},
				jsonOp{Op: "replace", Path: base + "/image", Value: img})
			changed = append(changed, ctr.Name+"="+img)
		}
	}
	for _, k := range order {
		if !matched[k] {
			return fmt.Errorf("no container %q in the pod template of rollout %q (containers: %s)", k, name, strings.Join(names, ", "))
		}
	}
	target := fmt.Sprintf("rollout %q", name)
	if d != nil {
		target = fmt.Sprintf("deployment %q (spec.workloadRef of rollout %q)", d.Name, name)
	}
	if len(ops) == 0 {
		_, err = fmt.Fprintf(out, "%s unchanged: already running %s\n", target, strings.Join(pairs, " "))
		return err
	}
	patch, _ := json.Marshal(ops)
	if d != nil {
		_, err = c.kube.AppsV1().Deployments(c.ns).Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	} else {
		err = c.patchRollout(ctx, name, types.JSONPatchType, string(patch), false)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s image updated: %s\n", target, strings.Join(changed, " "))
	return err
}

func newUndoCmd(o *options) *cobra.Command {
	var to int64
	cmd := verb(o, "undo NAME", "Roll back to the previous revision (or --to-revision N)",
		`Roll back: put the pod template of an earlier revision (the one before the
current, or --to-revision N) back in place, which starts an update to it. For
a Rollout with spec.workloadRef the referenced Deployment is patched.`, `
  SLUICE undo litellm -n litellm
  SLUICE undo litellm -n litellm --to-revision 3`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			return undo(ctx, c, name, to, out)
		})
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to go back to (default: the one before the current)")
	return cmd
}

func undo(ctx context.Context, c *clients, name string, to int64, out io.Writer) error {
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	rss, err := c.ownedReplicaSets(ctx, ro)
	if err != nil {
		return err
	}
	rev := func(rs *appsv1.ReplicaSet) int64 {
		n, _ := strconv.ParseInt(rs.Annotations[rolloutview.RevisionAnnotation], 10, 64)
		return n
	}
	sort.Slice(rss, func(i, j int) bool { return rev(&rss[i]) > rev(&rss[j]) })
	var current *appsv1.ReplicaSet
	for i := range rss {
		if rss[i].Labels[rolloutview.PodTemplateHashLabel] == ro.Status.CurrentPodHash {
			current = &rss[i]
		}
	}
	if current == nil && len(rss) > 0 {
		current = &rss[0]
	}
	var target *appsv1.ReplicaSet
	var revs []string
	for i := range rss {
		revs = append(revs, strconv.FormatInt(rev(&rss[i]), 10))
		switch {
		case to > 0 && rev(&rss[i]) == to:
			target = &rss[i]
		case to == 0 && target == nil && current != nil && rev(&rss[i]) < rev(current):
			target = &rss[i]
		}
	}
	if target == nil {
		if to > 0 {
			return fmt.Errorf("rollout %q has no revision %d (revisions kept: %s)", name, to, strings.Join(revs, ", "))
		}
		return fmt.Errorf("rollout %q has no revision before the current one to go back to", name)
	}
	if current != nil && target.UID == current.UID {
		return fmt.Errorf("rollout %q is already at revision %d", name, rev(target))
	}
	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, rolloutview.PodTemplateHashLabel)
	if ref := ro.Spec.WorkloadRef; ref != nil {
		d, err := c.kube.AppsV1().Deployments(c.ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting Deployment %q (spec.workloadRef): %w", ref.Name, err)
		}
		patch, _ := json.Marshal([]jsonOp{
			{Op: "test", Path: "/metadata/resourceVersion", Value: d.ResourceVersion},
			{Op: "replace", Path: "/spec/template", Value: tmpl},
		})
		if _, err := c.kube.AppsV1().Deployments(c.ns).Patch(ctx, d.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "rollout %q rolled back to revision %d: deployment %q (spec.workloadRef) has its template again (%s)\n",
			name, rev(target), d.Name, imagesOf(tmpl))
		return err
	}
	tmpl = asWritten(tmpl, target.Labels[rolloutview.PodTemplateHashLabel])
	patch, _ := json.Marshal([]jsonOp{
		{Op: "test", Path: "/metadata/resourceVersion", Value: ro.ResourceVersion},
		{Op: "replace", Path: "/spec/template", Value: tmpl},
	})
	if err := c.patchRollout(ctx, name, types.JSONPatchType, string(patch), false); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "rollout %q rolled back to revision %d (%s)\n", name, rev(target), imagesOf(tmpl))
	return err
}

func imagesOf(t *corev1.PodTemplateSpec) string {
	var s []string
	for _, c := range t.Spec.Containers {
		s = append(s, c.Name+"="+c.Image)
	}
	return strings.Join(s, " ")
}

// asWritten undoes the API server's defaulting of a ReplicaSet's pod template
// when that gives back the template the ReplicaSet was made from (its hash
// matches the Sluice controller's), so the controller scales the old
// ReplicaSet back up instead of creating an identical new one. Otherwise
// (an upstream controller hashes differently) the template is used as is,
// as upstream's plugin does.
func asWritten(t *corev1.PodTemplateSpec, hash string) *corev1.PodTemplateSpec {
	s := t.DeepCopy()
	ps := &s.Spec
	if ps.RestartPolicy == corev1.RestartPolicyAlways {
		ps.RestartPolicy = ""
	}
	if ps.DNSPolicy == corev1.DNSClusterFirst {
		ps.DNSPolicy = ""
	}
	if ps.SchedulerName == corev1.DefaultSchedulerName {
		ps.SchedulerName = ""
	}
	if g := ps.TerminationGracePeriodSeconds; g != nil && *g == corev1.DefaultTerminationGracePeriodSeconds {
		ps.TerminationGracePeriodSeconds = nil
	}
	if sc := ps.SecurityContext; sc != nil && equality.Semantic.DeepEqual(*sc, corev1.PodSecurityContext{}) {
		ps.SecurityContext = nil
	}
	for _, list := range [][]corev1.Container{ps.InitContainers, ps.Containers} {
		for i := range list {
			c := &list[i]
			if c.TerminationMessagePath == corev1.TerminationMessagePathDefault {
				c.TerminationMessagePath = ""
			}
			if c.TerminationMessagePolicy == corev1.TerminationMessageReadFile {
				c.TerminationMessagePolicy = ""
			}
			if c.ImagePullPolicy == defaultPullPolicy(c.Image) {
				c.ImagePullPolicy = ""
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == corev1.ProtocolTCP {
					c.Ports[j].Protocol = ""
				}
			}
		}
	}
	if rollout.TemplateHash(s) == hash {
		return s
	}
	return t
}

// defaultPullPolicy is the pull policy the API server fills in for an image.
func defaultPullPolicy(image string) corev1.PullPolicy {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(name, ":"); i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
