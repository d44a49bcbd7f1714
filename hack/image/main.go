// Command image builds Sluice's container images without Docker (make
// image, make release): the controller (sluice) and the exporter sidecar
// (sluice-exporter), each from scratch for each platform, written as
// archives that docker/podman load, kind load image-archive, ctr import and
// crane push accept. Same commit, same digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/imagebuild"
)

func main() {
	var (
		images    = flag.String("images", "sluice,sluice-exporter", "images to build: sluice, sluice-exporter")
		platforms = flag.String("platforms", "linux/"+runtime.GOARCH, "comma-separated platforms (linux/amd64,linux/arm64)")
		registry  = flag.String("registry", "ghcr.io/sluice-dev", "registry and namespace of the image names")
		version   = flag.String("version", "", "version to stamp and tag (default: git describe --tags --always --dirty)")
		out       = flag.String("out", "bin/images", "directory for the archives")
		certs     = flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to put in the images (Debian: ca-certificates)")
		ldflags   = flag.Bool("ldflags", false, "print the -ldflags that stamp the version (for make release's other binaries) and exit")
	)
	flag.Parse()
	if *ldflags {
		root, _ := os.Getwd()
		stamp, err := imagebuild.GitStamp(root, *version)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		fmt.Println(stamp.LDFlags())
		return
	}
	if err := run(*images, *platforms, *registry, *version, *out, *certs); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(images, platforms, registry, version, out, certs string) error {
	ctx := context.Background()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	stamp, err := imagebuild.GitStamp(root, version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "sluice-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fmt.Printf("version %s, commit %s, created %s\n", stamp.Version, stamp.Commit, stamp.Date.Format(time.RFC3339))
	for _, name := range strings.Split(images, ",") {
		for _, p := range strings.Split(platforms, ",") {
			goos, arch, ok := strings.Cut(p, "/")
			if !ok || goos != "linux" {
				return fmt.Errorf("platform %q: want linux/<arch>", p)
			}
			start := time.Now()
			spec, err := imagebuild.For(name, arch, certs, stamp)
			if err != nil {
				return err
			}
			spec.Binary = filepath.Join(work, name+"-"+arch)
			if err := imagebuild.GoBuild(ctx, root, "./cmd/"+name, goos, arch, spec.Binary, stamp); err != nil {
				return err
			}
			img, err := imagebuild.Build(spec)
			if err != nil {
				return err
			}
			ref := registry + "/" + name + ":" + stamp.Version
			path := filepath.Join(out, fmt.Sprintf("%s_%s_linux_%s.tar", name, stamp.Version, arch))
			if err := imagebuild.WriteArchive(path, ref, img, stamp.Date); err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			fmt.Printf("%-15s linux/%-5s %s  %s  %5.1f MB  %4.1fs  %s\n", name, arch, ref, digest, float64(fi.Size())/1e6, time.Since(start).Seconds(), path)
		}
	}
	return nil
}
