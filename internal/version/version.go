// Package version is Sluice's build version, set with -ldflags at release:
//
//	-X github.com/sluice-dev/sluice/internal/version.Version=v0.2.0
//	-X github.com/sluice-dev/sluice/internal/version.Commit=<git sha>
//	-X github.com/sluice-dev/sluice/internal/version.Date=<commit time, RFC 3339>
//
// Date is the commit's time, not the build's, so a build is reproducible.
package version

import (
	"fmt"
	"runtime"
)

var (
	// Version is the Sluice version; "dev" for local builds.
	Version = "dev"
	// Commit is the git commit built; "unknown" for local builds.
	Commit = "unknown"
	// Date is the commit time (RFC 3339); "unknown" for local builds.
	Date = "unknown"
)

// String is the one-line version every Sluice binary prints:
// "v0.2.0 (commit 1a2b3c4d5e6f, 2026-11-25T02:55:29Z, go1.26.8, linux/amd64)",
// or "dev (go1.26.8, linux/amd64)" for a local build that was not stamped.
func String() string {
	if Commit == "unknown" {
		return fmt.Sprintf("%s (%s, %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	commit := Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	return fmt.Sprintf("%s (commit %s, %s, %s, %s/%s)", Version, commit, Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
