package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/internal/rolloutview"
)

func newGetCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show a Rollout: its status, step, weights, images and the tree of what it runs",
		Example: examples(`
  SLUICE get rollout litellm -n litellm
  SLUICE get rollout litellm -n litellm --watch`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o.addFlags(cmd)
	cmd.AddCommand(newGetRolloutCmd(o))
	return cmd
}

type getOptions struct {
	watch   bool
	noColor bool
	output  string
	timeout time.Duration
}

func newGetRolloutCmd(o *options) *cobra.Command {
	var g getOptions
	cmd := &cobra.Command{
		Use:     "rollout NAME",
		Aliases: []string{"ro", "rollouts"},
		Short:   "Show a Rollout's status and the tree of its revisions, ReplicaSets, Pods and AnalysisRuns",
		Long: `Show a Rollout the way the Argo Rollouts plugin does: a header block (status,
message, strategy, step, set and actual weight, images, replica counts) and the
tree of revisions with their ReplicaSets, Pods and AnalysisRuns.

When the Rollout carries a loud-failure condition — an unusable traffic router,
a missing workloadRef Deployment, a Deployment still serving next to the
Rollout, an analysis waiting for a person — a Why: line under Message says
what is wrong and what to do.

ActualWeight is the canary's share of available pods (canary available / all
available), the weight a Service splitting by pod count really carries.

--watch follows changes with watches (no polling): on a terminal the view is
redrawn in place; with --no-color, or when the output is not a terminal, each
new view is appended as plain text. Ctrl-C ends it.`,
		Example: examples(`
  # The Rollout, once
  SLUICE get rollout litellm -n litellm

  # Follow it live; redraws in place on a terminal
  SLUICE get rollout litellm -n litellm --watch

  # Plain text for a log or a dumb terminal
  SLUICE get rollout litellm -n litellm --watch --no-color

  # The same view as JSON (or yaml) for scripts
  SLUICE get rollout litellm -n litellm -o json`),
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: o.completeRollouts,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch g.output {
			case "", "json", "yaml", "objects":
			default:
				return fmt.Errorf("unknown output format %q: use json, yaml or objects", g.output)
			}
			if g.watch && g.output != "" {
				return fmt.Errorf("--watch prints the tree; it cannot be combined with -o %s", g.output)
			}
			c, err := o.clients()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if g.watch {
				return watchRollout(ctx, c, args[0], cmd.OutOrStdout(), g)
			}
			return getRollout(ctx, c, args[0], cmd.OutOrStdout(), g)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&g.watch, "watch", "w", false, "follow the Rollout and redraw on every change (Ctrl-C to stop)")
	f.BoolVar(&g.noColor, "no-color", false, "no colors and, with --watch, no cursor movement: append each view as plain text")
	f.StringVarP(&g.output, "output", "o", "", "json or yaml: the view as data; objects: the raw API objects it is built from (for bug reports)")
	f.DurationVar(&g.timeout, "timeout", 0, "with --watch, stop after this long (0: until Ctrl-C)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml", "objects"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// signalContext ends on Ctrl-C or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func getRollout(ctx context.Context, c *clients, name string, out io.Writer, g getOptions) error {
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	objs, err := c.objects(ctx, ro, true)
	if err != nil {
		return err
	}
	now := time.Now()
	switch g.output {
	case "objects":
		return rolloutview.WriteObjects(out, objs, now)
	case "json", "yaml":
		info := rolloutview.Build(objs, rolloutview.Options{Now: now, Command: prog()})
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		if g.output == "yaml" {
			if b, err = yaml.JSONToYAML(b); err != nil {
				return err
			}
		} else {
			b = append(b, '\n')
		}
		_, err = out.Write(b)
		return err
	}
	info := rolloutview.Build(objs, rolloutview.Options{Now: now, Command: prog()})
	return rolloutview.Render(out, info, rolloutview.RenderOptions{Color: useColor(out, g.noColor)})
}
