package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// The patches the operator's verbs send: the same, and as small, as upstream's
// plugin sends, so they work with either controller.
const (
	patchPromote     = `{"status":{"pauseConditions":null}}`
	patchPromoteFull = `{"status":{"promoteFull":true}}`
	patchAbort       = `{"status":{"abort":true}}`
	patchRetry       = `{"status":{"abort":false}}`
	patchUnpause     = `{"spec":{"paused":false}}`
	patchPause       = `{"spec":{"paused":true}}`
)

// verb builds a command that acts on one named Rollout.
func verb(o *options, use, short, long, example string, run func(ctx context.Context, c *clients, name string, out io.Writer) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Long:              long,
		Example:           examples(example),
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: o.completeRollouts,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.clients()
			if err != nil {
				return err
			}
			return run(cmd.Context(), c, args[0], cmd.OutOrStdout())
		},
	}
	return cmd
}

// where describes the step a canary is at, for messages: "step 1/4".
func where(ro *v1alpha1.Rollout) string {
	phase, msg := rolloutview.Phase(ro)
	s := string(phase)
	if msg != "" {
		s += ": " + msg
	}
	if c := ro.Spec.Strategy.Canary; c != nil && len(c.Steps) > 0 {
		idx := int32(0)
		if ro.Status.CurrentStepIndex != nil {
			idx = *ro.Status.CurrentStepIndex
		}
		s = fmt.Sprintf("step %d/%d, %s", idx, len(c.Steps), s)
	}
	return s
}

// atRest reports a Rollout with no update in flight: the current template
// is the stable one and the controller says Healthy.
func atRest(ro *v1alpha1.Rollout) bool {
	phase, _ := rolloutview.Phase(ro)
	return phase == v1alpha1.RolloutPhaseHealthy && ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash == ro.Status.StableRS
}

func newPromoteCmd(o *options) *cobra.Command {
	var full bool
	cmd := verb(o, "promote NAME", "Move a paused Rollout on to its next step (--full: skip every remaining step)",
		`Move a paused Rollout on: past the pause step it waits at (clears
status.pauseConditions, and spec.paused if set), or past an analysis that was
inconclusive. With --full, skip every remaining step and go to 100%
(status.promoteFull).

Promote refuses a Rollout that is Healthy (nothing to promote), aborted (use
retry) or not paused (use --full to skip the steps of an update in progress).`, `
  # Past the current pause
  SLUICE promote litellm -n litellm

  # Skip every remaining step
  SLUICE promote litellm -n litellm --full`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			ro, err := c.getRollout(ctx, name)
			if err != nil {
				return err
			}
			switch {
			case atRest(ro):
				return fmt.Errorf("rollout %q is Healthy: it is fully promoted, nothing to promote", name)
			case ro.Status.Abort:
				return fmt.Errorf("rollout %q is aborted: `%s retry rollout %s` starts its steps again", name, prog(), name)
			}
			was := where(ro)
			if full {
				if err := c.patchRollout(ctx, name, types.MergePatchType, patchPromoteFull, true); err != nil {
					return err
				}
				if ro.Spec.Paused {
					if err := c.patchRollout(ctx, name, types.MergePatchType, patchUnpause, false); err != nil {
						return err
					}
				}
				_, err = fmt.Fprintf(out, "rollout %q fully promoted: remaining steps skipped (was at %s)\n", name, was)
				return err
			}
			if !ro.Spec.Paused && len(ro.Status.PauseConditions) == 0 {
				return fmt.Errorf("rollout %q is not paused (%s): nothing to promote; --full skips the remaining steps", name, was)
			}
			if len(ro.Status.PauseConditions) > 0 {
				if err := c.patchRollout(ctx, name, types.MergePatchType, patchPromote, true); err != nil {
					return err
				}
			}
			if ro.Spec.Paused {
				if err := c.patchRollout(ctx, name, types.MergePatchType, patchUnpause, false); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(out, "rollout %q promoted (was at %s)\n", name, was)
			return err
		})
	cmd.Flags().BoolVar(&full, "full", false, "skip every remaining step and go to 100%")
	return cmd
}

func newAbortCmd(o *options) *cobra.Command {
	return verb(o, "abort NAME", "Abort the update in progress: the stable version takes all pods (and traffic) back",
		`Abort the update in progress (status.abort): the canary (or preview) is scaled
away and the stable ReplicaSet serves everything again. The Rollout stays
Degraded with RolloutAborted until it is retried or its template changes.`, `
  SLUICE abort litellm -n litellm`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			ro, err := c.getRollout(ctx, name)
			if err != nil {
				return err
			}
			switch {
			case ro.Status.Abort:
				return fmt.Errorf("rollout %q is already aborted", name)
			case atRest(ro):
				return fmt.Errorf("rollout %q is Healthy with no update in progress: nothing to abort", name)
			}
			was := where(ro)
			if err := c.patchRollout(ctx, name, types.MergePatchType, patchAbort, true); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "rollout %q aborted: the stable version takes every pod back (was at %s)\n", name, was)
			return err
		})
}

func newRetryCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retry",
		Short: "Retry an aborted Rollout",
		Example: examples(`
  SLUICE retry rollout litellm -n litellm`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.addFlags(cmd)
	cmd.AddCommand(verb(o, "rollout NAME", "Retry an aborted Rollout: its update starts again from the first step",
		`Retry an aborted Rollout (status.abort back to false): the update to the
current template starts again from the first step.`, `
  SLUICE retry rollout litellm -n litellm`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			ro, err := c.getRollout(ctx, name)
			if err != nil {
				return err
			}
			if !ro.Status.Abort {
				return fmt.Errorf("rollout %q is not aborted (%s): nothing to retry", name, where(ro))
			}
			if err := c.patchRollout(ctx, name, types.MergePatchType, patchRetry, true); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "rollout %q retried: the update starts again from the first step\n", name)
			return err
		}))
	cmd.Commands()[0].Aliases = []string{"ro", "rollouts"}
	return cmd
}

func newPauseCmd(o *options) *cobra.Command {
	return verb(o, "pause NAME", "Hold a Rollout where it is (spec.paused) until it is promoted",
		`Hold a Rollout where it is (spec.paused: true): no step is taken until it is
promoted. Pausing a Healthy Rollout holds the next update at its first step.`, `
  SLUICE pause litellm -n litellm`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			ro, err := c.getRollout(ctx, name)
			if err != nil {
				return err
			}
			if ro.Spec.Paused {
				_, err = fmt.Fprintf(out, "rollout %q is already paused (spec.paused)\n", name)
				return err
			}
			if err := c.patchRollout(ctx, name, types.MergePatchType, patchPause, false); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "rollout %q paused (was at %s)\n", name, where(ro))
			return err
		})
}

func newRestartCmd(o *options) *cobra.Command {
	var in time.Duration
	cmd := verb(o, "restart NAME", "Restart every pod of a Rollout, oldest first (spec.restartAt)",
		`Ask the controller to restart every pod of the Rollout, oldest first, by
setting spec.restartAt (to now, or --in from now).`, `
  SLUICE restart litellm -n litellm
  SLUICE restart litellm -n litellm --in 1h`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			if _, err := c.getRollout(ctx, name); err != nil {
				return err
			}
			at := time.Now().Add(in).UTC().Truncate(time.Second)
			patch := fmt.Sprintf(`{"spec":{"restartAt":%q}}`, at.Format(time.RFC3339))
			if err := c.patchRollout(ctx, name, types.MergePatchType, patch, false); err != nil {
				return err
			}
			_, err := fmt.Fprintf(out, "rollout %q restarts its pods from %s (spec.restartAt)\n", name, at.Format(time.RFC3339))
			return err
		})
	cmd.Flags().DurationVar(&in, "in", 0, "restart this long from now (e.g. 30m)")
	return cmd
}
