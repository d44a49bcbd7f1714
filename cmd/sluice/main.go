// Command sluice is Sluice's one binary: the controller (`sluice controller`)
// and the operator's CLI. Installed as kubectl-sluice it is a kubectl plugin.
package main

import (
	"os"

	"github.com/sluice-dev/sluice/internal/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		os.Exit(cli.ExitCode(err))
	}
}
