package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/canary"
	"github.com/sluice-dev/sluice/internal/rehearsal"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// rehearsalAnnotation marks the pod template of a rehearsal: the only change
// between the stable revision and the rehearsed one.
const rehearsalAnnotation = "sluice.dev/rehearsal"

type rehearseOptions struct {
	yes, abortOnce bool
	timeout, poll  time.Duration
}

func newRehearseCmd(o *options) *cobra.Command {
	ro := rehearseOptions{poll: 500 * time.Millisecond}
	cmd := verb(o, "rehearse NAME", "Prove the update workflow works: run a real update to an identical template through every step",
		`Runs the Rollout's update workflow for real, end to end, the way the seeds'
postmortem asks before calling it deployed: the pod template gets one new
annotation (`+rehearsalAnnotation+`: TIME), so a new revision with the same
images goes through every step. rehearse promotes each pause, waits for timed
pauses and analysis, and prints a transcript of every state it sees. With
--abort-once it aborts at the first pause, checks that the stable version
takes everything back, retries, and goes on.

It passes (exit 0) when the rehearsed revision is Healthy and stable. It
fails (exit 1) at the first sign the workflow does not work: an analysis
that was inconclusive (no data is not success), an abort it did not ask
for, a Degraded Rollout. Exit 3 on --timeout. It starts only from a Rollout
at rest (Healthy, no update in progress), and changes nothing without --yes.`, `
  # Show what it would do
  SLUICE rehearse litellm -n litellm

  # Run it, with one abort and retry on the way
  SLUICE rehearse litellm -n litellm --yes --abort-once`,
		func(ctx context.Context, c *clients, name string, out io.Writer) error {
			return rehearse(ctx, c, name, out, ro)
		})
	cmd.Flags().BoolVar(&ro.yes, "yes", false, "run it (without it, only show what it would do)")
	cmd.Flags().BoolVar(&ro.abortOnce, "abort-once", false, "abort at the first pause, check the rollback, then retry")
	cmd.Flags().DurationVar(&ro.timeout, "timeout", 15*time.Minute, "give up (exit 3) after this long")
	return cmd
}

// rehearsalPlan says in words what the rehearsal will do.
func rehearsalPlan(ro *v1alpha1.Rollout, o rehearseOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rehearse rollout %q: a real update to an identical pod template (annotation %s), ", ro.Name, rehearsalAnnotation)
	if c := ro.Spec.Strategy.Canary; c != nil {
		var steps []string
		for i := range c.Steps {
			steps = append(steps, canary.DescribeStep(&c.Steps[i]))
		}
		fmt.Fprintf(&b, "through its %d step(s): %s", len(c.Steps), strings.Join(steps, ", "))
	} else {
		b.WriteString("blue-green: preview, then promotion")
	}
	b.WriteString("; every pause is promoted")
	if o.abortOnce {
		b.WriteString(", and the first one is aborted once and retried")
	}
	return b.String()
}

func rehearse(ctx context.Context, c *clients, name string, out io.Writer, o rehearseOptions) error {
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	if !atRest(ro) {
		return fmt.Errorf("rollout %q is not at rest (%s): rehearse starts from a Healthy Rollout with no update in progress", name, where(ro))
	}
	plan := rehearsalPlan(ro, o)
	if !o.yes {
		fmt.Fprintln(out, plan+".")
		fmt.Fprintln(out, "Nothing was changed. Add --yes to run it.")
		return &ExitError{Code: 2, Err: errors.New("not run: add --yes")}
	}
	fmt.Fprintln(out, plan)
	stamp := time.Now().UTC().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, rehearsalAnnotation, stamp)
	if ref := ro.Spec.WorkloadRef; ref != nil {
		_, err = c.kube.AppsV1().Deployments(c.ns).Patch(ctx, ref.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	} else {
		err = c.patchRollout(ctx, name, types.MergePatchType, patch, false)
	}
	if err != nil {
		return fmt.Errorf("starting the rehearsal: %w", err)
	}
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	say("pod template annotated %s=%s: a new revision starts", rehearsalAnnotation, stamp)
	st := &rehearsal.State{StartHash: ro.Status.StableRS, AbortOnce: o.abortOnce}
	deadline := time.Now().Add(o.timeout)
	last := ""
	for {
		if ro, err = c.getRollout(ctx, name); err != nil {
			return err
		}
		obs, line, err := c.observeRehearsal(ctx, ro)
		if err != nil {
			return err
		}
		if line != last {
			say("%s", line)
			last = line
		}
		act, why := rehearsal.Next(st, obs)
		switch act {
		case rehearsal.Passed:
			say("passed: revision %s is Healthy and stable; the workflow ran end to end", ro.Status.StableRS)
			return nil
		case rehearsal.Failed:
			say("FAILED: %s", why)
			say("the Rollout is left where it stopped; %s abort %s -n %s rolls the rehearsal back", prog(), name, c.ns)
			return &ExitError{Code: 1, Err: fmt.Errorf("rehearsal of rollout %q failed: %s", name, why)}
		case rehearsal.Promote, rehearsal.Abort, rehearsal.Retry:
			body := map[rehearsal.Action]string{rehearsal.Promote: patchPromote, rehearsal.Abort: patchAbort, rehearsal.Retry: patchRetry}[act]
			say("→ %s", why)
			if err := c.patchRollout(ctx, name, types.MergePatchType, body, true); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			say("timed out after %s at %s", o.timeout, where(ro))
			return &ExitError{Code: 3, Err: fmt.Errorf("rehearsal of rollout %q timed out", name)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.poll):
		}
	}
}

// observeRehearsal reads what the rehearsal decides on, and a one-line
// description of it for the transcript.
func (c *clients) observeRehearsal(ctx context.Context, ro *v1alpha1.Rollout) (rehearsal.Observation, string, error) {
	phase, msg := rolloutview.Phase(ro)
	st := ro.Status
	o := rehearsal.Observation{Observed: rolloutview.Observed(ro), Phase: phase, Message: msg, CurrentPodHash: st.CurrentPodHash,
		StableRS: st.StableRS, Abort: st.Abort, SpecPaused: ro.Spec.Paused}
	for _, pc := range st.PauseConditions {
		o.PauseReasons = append(o.PauseReasons, pc.Reason)
	}
	pods := map[string]int32{}
	rss, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).List(ctx, managedSelector)
	if err != nil {
		return o, "", fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Rollout" && ref.Name == ro.Name {
			pods[rs.Labels[rolloutview.PodTemplateHashLabel]] = rs.Status.AvailableReplicas
		}
	}
	o.NewPods = pods[st.CurrentPodHash]
	line := where(ro)
	if st.CurrentPodHash != st.StableRS {
		line += fmt.Sprintf(" · pods: new %d, stable %d", pods[st.CurrentPodHash], pods[st.StableRS])
	}
	if w := st.Canary.Weights; w != nil {
		line += fmt.Sprintf(" · route: canary %d%%", w.Canary.Weight)
	}
	for _, r := range []*v1alpha1.RolloutAnalysisRunStatus{st.Canary.CurrentStepAnalysisRunStatus, st.Canary.CurrentBackgroundAnalysisRunStatus,
		st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus} {
		if r != nil {
			line += fmt.Sprintf(" · analysis %s: %s", r.Name, r.Status)
			if r.Message != "" {
				line += " (" + r.Message + ")"
			}
		}
	}
	return o, line, nil
}
