// Package version is Sluice's build version, set with -ldflags at release.
package version

// Version is the Sluice version; "dev" for local builds.
var Version = "dev"
