package cli

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/sluice-dev/sluice/internal/rolloutview"
)

func newListCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Rollouts, one line each",
		Example: examples(`
  SLUICE list rollouts -n litellm
  SLUICE list rollouts -A`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.addFlags(cmd)
	cmd.AddCommand(newListRolloutsCmd(o))
	return cmd
}

func newListRolloutsCmd(o *options) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "rollouts",
		Aliases: []string{"rollout", "ro"},
		Short:   "List Rollouts: strategy, status, step, set/actual weight, ready/desired",
		Long: `List the Rollouts of a namespace (or, with -A, of every namespace), one line
each: name, strategy, status, step, set and actual weight, ready/desired,
up-to-date and available pods, and age. Status is the controller's phase, or
Progressing while it has not yet observed the latest spec.`,
		Example: examples(`
  SLUICE list rollouts -n litellm
  SLUICE list rollouts --all-namespaces`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.clients()
			if err != nil {
				return err
			}
			ns := c.scope(all)
			ctx := cmd.Context()
			ros, err := c.listRollouts(ctx, ns)
			if err != nil {
				return err
			}
			if len(ros) == 0 {
				if all {
					_, err = fmt.Fprintln(cmd.ErrOrStderr(), "No Rollouts found.")
				} else {
					_, err = fmt.Fprintf(cmd.ErrOrStderr(), "No Rollouts found in namespace %q.\n", ns)
				}
				return err
			}
			rss, err := c.kube.AppsV1().ReplicaSets(ns).List(ctx, managedSelector)
			if err != nil {
				return fmt.Errorf("listing ReplicaSets: %w", err)
			}
			byNS := map[string][]appsv1.ReplicaSet{}
			for _, rs := range rss.Items {
				byNS[rs.Namespace] = append(byNS[rs.Namespace], rs)
			}
			now := time.Now()
			var infos []*rolloutview.Info
			for i := range ros {
				objs := rolloutview.Objects{Rollout: &ros[i], ReplicaSets: byNS[ros[i].Namespace]}
				infos = append(infos, rolloutview.Build(objs, rolloutview.Options{Now: now, Command: prog()}))
			}
			sort.SliceStable(infos, func(i, j int) bool {
				if infos[i].Namespace != infos[j].Namespace {
					return infos[i].Namespace < infos[j].Namespace
				}
				return infos[i].Name < infos[j].Name
			})
			return rolloutview.RenderList(cmd.OutOrStdout(), infos, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Rollouts of every namespace")
	return cmd
}
