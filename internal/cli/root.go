// Package cli holds Sluice's command line: one cobra tree for the controller
// and the operator's verbs, usable as `sluice ...` or `kubectl sluice ...`.
package cli

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/internal/cli/exit"
	"github.com/sluice-dev/sluice/internal/cli/sidecar"
)

// ExitError carries a specific process exit code.
type ExitError = exit.Error

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int { return exit.Code(err) }

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Sluice: progressive delivery (canary, blue-green) for Kubernetes, Argo Rollouts API compatible",
		Long: `Sluice shifts a new version of an app in gradually (canary) or side by side
(blue-green), gates every step on evidence, and rolls back by itself when the
evidence is bad or missing. It reads and writes the Argo Rollouts API
(argoproj.io/v1alpha1), so existing manifests keep working.`,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	if filepath.Base(os.Args[0]) == "kubectl-sluice" {
		// As a kubectl plugin: usage and completion say "kubectl sluice".
		root.Use = "kubectl-sluice"
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sluice"}
	}
	root.AddCommand(newControllerCmd(), newVersionCmd(), sidecar.NewExporterCmd(), sidecar.NewProbeCmd())
	root.AddCommand(operatorCommands()...)
	return root
}
