package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// Exit codes of `status`, for CI pipelines.
const (
	StatusHealthy  = 0 // Healthy (or Paused, without --fail-on-pause)
	StatusDegraded = 1 // Degraded or aborted; also any other error
	StatusPaused   = 2 // Paused, with --fail-on-pause
	StatusTimeout  = 3 // not Healthy, Degraded or Paused within --timeout (or at once, with --watch=false)
)

type statusOptions struct {
	watch       bool
	timeout     time.Duration
	failOnPause bool
}

func newStatusCmd(o *options) *cobra.Command {
	var s statusOptions
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Wait until a Rollout is Healthy, Degraded or Paused; the exit code says which (for CI)",
		Long: `Wait until a Rollout settles and say how, in the exit code:

  0  Healthy (or Paused, with a note saying how to continue)
  1  Degraded: aborted, or unable to make progress (also: any other error)
  2  Paused, with --fail-on-pause
  3  timed out (--timeout), or still progressing with --watch=false

Each change of phase is printed as "Phase - message". A request the
controller has not acted on yet (a new spec, a workloadRef Deployment change,
a promote, abort or retry) counts as Progressing, so running status right
after changing a Rollout waits for the controller's answer to that change.`,
		Example: examples(`
  # In CI: roll out, then wait at most 10 minutes for the outcome
  SLUICE set image litellm -n litellm litellm=ghcr.io/berriai/litellm-database:main-v1.83.14-stable
  SLUICE status litellm -n litellm --timeout 10m --fail-on-pause

  # Once, without waiting
  SLUICE status litellm -n litellm --watch=false`),
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: o.completeRollouts,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.clients()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return rolloutStatus(ctx, c, args[0], cmd.OutOrStdout(), s)
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVarP(&s.watch, "watch", "w", true, "wait until the Rollout settles (--watch=false: report once)")
	f.DurationVarP(&s.timeout, "timeout", "t", 0, "give up after this long, exit code 3 (0: wait forever)")
	f.BoolVar(&s.failOnPause, "fail-on-pause", false, "exit 2 when the Rollout pauses (default: exit 0 with a note)")
	return cmd
}

func rolloutStatus(ctx context.Context, c *clients, name string, out io.Writer, s statusOptions) error {
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	var deploy cache.SharedIndexInformer
	w := newWatcher(ctx, c, name, false)
	if ref := ro.Spec.WorkloadRef; ref != nil {
		f := informers.NewSharedInformerFactoryWithOptions(c.kube, 0, informers.WithNamespace(c.ns),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.FieldSelector = "metadata.name=" + ref.Name }))
		deploy = f.Apps().V1().Deployments().Informer()
		w.notifyOn(deploy)
		go deploy.Run(ctx.Done())
	}
	last := ""
	judge := func() (done bool, err error) {
		ro := w.current()
		if ro == nil {
			return true, fmt.Errorf("rollout %q was deleted", name)
		}
		gen := int64(0)
		if deploy != nil {
			for _, obj := range deploy.GetStore().List() {
				gen = obj.(*appsv1.Deployment).Generation
			}
		}
		phase, msg := rolloutview.Progress(ro, gen)
		line := string(phase)
		if msg != "" {
			line += " - " + msg
		}
		if line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		switch phase {
		case v1alpha1.RolloutPhaseHealthy:
			return true, nil
		case v1alpha1.RolloutPhaseDegraded:
			return true, &ExitError{Code: StatusDegraded, Err: fmt.Errorf("rollout %q is Degraded", name)}
		case v1alpha1.RolloutPhasePaused:
			if s.failOnPause {
				return true, &ExitError{Code: StatusPaused, Err: fmt.Errorf("rollout %q is Paused (%s)", name, where(ro))}
			}
			fmt.Fprintf(out, "rollout %q is paused (%s); continue with: %s promote %s -n %s\n", name, where(ro), prog(), name, c.ns)
			return true, nil
		}
		return false, nil
	}
	timedOut := func() error {
		return &ExitError{Code: StatusTimeout, Err: fmt.Errorf("rollout %q did not become Healthy, Degraded or Paused within %s (still %s)",
			name, s.timeout, last)}
	}
	if err := w.start(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return timedOut()
		}
		return err
	}
	if deploy != nil && !cache.WaitForCacheSync(ctx.Done(), deploy.HasSynced) {
		return ctx.Err()
	}
	for {
		if done, err := judge(); done {
			return err
		}
		if !s.watch {
			return &ExitError{Code: StatusTimeout, Err: fmt.Errorf("rollout %q is still progressing", name)}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return timedOut()
			}
			return &ExitError{Code: 130, Err: fmt.Errorf("interrupted")}
		case <-w.changed:
		}
	}
}
