// Package imagebuild builds Sluice's container images without Docker: a
// static Go binary on an empty ("scratch") filesystem with CA certificates
// and a non-root user, assembled with go-containerregistry and written as an
// archive that docker load, podman load, kind load image-archive, ctr import
// and crane push all read.
//
// Builds are reproducible: every timestamp is the commit's time, tar entries
// are sorted with fixed owners, and the binary is built with -trimpath, so
// the same commit gives the same image digest.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the uid and gid the images run as (distroless' "nonroot").
const NonRoot = 65532

// VersionPkg is the package whose variables -ldflags stamps.
const VersionPkg = "github.com/sluice-dev/sluice/internal/version"

// Stamp is what identifies a build: it goes into the binary (sluice
// version) and the image's labels.
type Stamp struct {
	Version string    // e.g. v0.2.0 or v0.1.0-12-g1a2b3c4
	Commit  string    // full git sha
	Date    time.Time // the commit's time: every timestamp in the image
	Source  string    // repository URL (org.opencontainers.image.source)
}

// LDFlags stamps the version into a binary and strips debug information.
func (s Stamp) LDFlags() string {
	return strings.Join([]string{"-s", "-w",
		"-X " + VersionPkg + ".Version=" + s.Version,
		"-X " + VersionPkg + ".Commit=" + s.Commit,
		"-X " + VersionPkg + ".Date=" + s.Date.UTC().Format(time.RFC3339),
	}, " ")
}

// GoBuild builds pkg (e.g. ./cmd/sluice) in module root dir for goos/goarch
// into out: static (CGO_ENABLED=0), -trimpath, stamped.
func GoBuild(ctx context.Context, dir, pkg, goos, goarch, out string, s Stamp) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", s.LDFlags(), "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (%s/%s): %v\n%s", pkg, goos, goarch, err, stderr.String())
	}
	return nil
}

// Spec is one image.
type Spec struct {
	Name       string   // binary name and path: /<Name>
	Binary     string   // the built binary to put in the image
	Entrypoint []string // default: ["/<Name>"]
	Cmd        []string // default arguments, e.g. ["controller"]
	Arch       string   // amd64, arm64 (os is linux)
	CACerts    string   // PEM bundle copied to /etc/ssl/certs/ca-certificates.crt
	Title      string   // org.opencontainers.image.title
	Stamp      Stamp
}

// Build assembles the image: a base layer (/etc/passwd, /etc/group, CA
// certificates, /tmp, the user's home) and a layer with the binary.
func Build(s Spec) (v1.Image, error) {
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificates: %w", err)
	}
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, err
	}
	created := s.Stamp.Date.UTC()
	base, err := layer(created, []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRoot))},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot))},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: NonRoot},
		{name: "tmp/", mode: 0o1777},
	})
	if err != nil {
		return nil, err
	}
	app, err := layer(created, []entry{{name: s.Name, mode: 0o755, data: bin}})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "sluice imagebuild: passwd, group, CA certificates", Comment: "base"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "sluice imagebuild: /" + s.Name + " (go build -trimpath, CGO_ENABLED=0)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	labels := s.labels()
	entry := s.Entrypoint
	if len(entry) == 0 {
		entry = []string{"/" + s.Name}
	}
	cf.Architecture, cf.OS = s.Arch, "linux"
	cf.Created = v1.Time{Time: created}
	cf.Author = "Sluice"
	cf.Config = v1.Config{
		Entrypoint: entry,
		Cmd:        s.Cmd,
		User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/",
			"HOME=/home/nonroot",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		Labels: labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels).(v1.Image), nil
}

func (s Spec) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       s.Title,
		"org.opencontainers.image.source":      s.Stamp.Source,
		"org.opencontainers.image.url":         s.Stamp.Source,
		"org.opencontainers.image.version":     s.Stamp.Version,
		"org.opencontainers.image.revision":    s.Stamp.Commit,
		"org.opencontainers.image.created":     s.Stamp.Date.UTC().Format(time.RFC3339),
		"org.opencontainers.image.description": "Sluice: progressive delivery for Kubernetes (Argo Rollouts API)",
	}
}

type entry struct {
	name string // relative; a trailing slash makes a directory
	mode int64
	uid  int
	data []byte
}

// layer is a gzip-compressed OCI layer of entries, sorted by name, every
// one owned by uid (0 by default) and dated t.
func layer(t time.Time, entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: t, Format: tar.FormatPAX,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)),
		}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// Platform is os/arch of an image, e.g. "linux/arm64".
func Platform(img v1.Image) string {
	cf, err := img.ConfigFile()
	if err != nil {
		return "?"
	}
	return path.Join(cf.OS, cf.Architecture)
}

// DefaultSource is the repository the images' labels name.
const DefaultSource = "https://github.com/sluice-dev/sluice"

// GitStamp reads the stamp of the commit checked out in dir: version from
// `git describe --tags --always --dirty` unless given, the commit, and the
// commit's time.
func GitStamp(dir, version string) (Stamp, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	s := Stamp{Version: version, Source: DefaultSource}
	var err error
	if s.Commit, err = git("rev-parse", "HEAD"); err != nil {
		return s, err
	}
	date, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return s, err
	}
	var sec int64
	if _, err := fmt.Sscan(date, &sec); err != nil {
		return s, fmt.Errorf("commit time %q: %w", date, err)
	}
	s.Date = time.Unix(sec, 0).UTC()
	if s.Version == "" {
		if s.Version, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
			return s, err
		}
	}
	return s, nil
}

// For is the Spec of Sluice image name for linux/arch. This is how each image runs: the controller's entrypoint is
// `/sluice controller`, the exporter's `/sluice-exporter`.
func For(name, arch, certs string, stamp Stamp) (Spec, error) {
	s := Spec{Name: name, Arch: arch, CACerts: certs, Stamp: stamp}
	switch name {
	case "sluice":
		s.Entrypoint, s.Cmd = []string{"/sluice"}, []string{"controller"}
		s.Title = "sluice"
	case "sluice-exporter":
		s.Title = "sluice-exporter"
	default:
		return s, fmt.Errorf("unknown image %q (sluice, sluice-exporter)", name)
	}
	return s, nil
}
