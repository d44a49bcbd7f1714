package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/imagebuild"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The controller image is proven by running it: the test builds the image
// with the code make image runs (twice: same commit, same digest), reads the
// archive back as a registry client would, unpacks its layers, and runs the
// image's entrypoint from the image's own filesystem (chroot) as the image's
// user against the sandbox. The seeds' canary goes to Healthy under it; the
// in-process controller is stopped the whole time.
func TestControllerImageRunsTheSeedCanary(t *testing.T) {
	env := testenv.Get(t)
	env.StopController()
	defer env.StartController()

	tmp := t.TempDir()
	stamp, err := imagebuild.GitStamp(env.Root, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	var archives [2]string
	var digests [2]v1.Hash
	for i := range archives {
		start := time.Now()
		spec, err := imagebuild.For("sluice", runtime.GOARCH, "/etc/ssl/certs/ca-certificates.crt", stamp)
		if err != nil {
			t.Fatal(err)
		}
		spec.Binary = filepath.Join(tmp, fmt.Sprintf("sluice-%d", i))
		if err := imagebuild.GoBuild(ctx, env.Root, "./cmd/sluice", "linux", runtime.GOARCH, spec.Binary, stamp); err != nil {
			t.Fatal(err)
		}
		img, err := imagebuild.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		archives[i] = filepath.Join(tmp, fmt.Sprintf("sluice-%d.tar", i))
		if err := imagebuild.WriteArchive(archives[i], "ghcr.io/sluice-dev/sluice:e2e", img, stamp.Date); err != nil {
			t.Fatal(err)
		}
		if digests[i], err = img.Digest(); err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: %s, archive sha256 %s, %s", i+1, digests[i], fileSHA(t, archives[i]), time.Since(start).Round(time.Millisecond))
	}
	if digests[0] != digests[1] || fileSHA(t, archives[0]) != fileSHA(t, archives[1]) {
		t.Fatalf("not reproducible: two builds of commit %s gave %s and %s", stamp.Commit, digests[0], digests[1])
	}

	// Read the archive as ctr import / crane do (the OCI layout) and as
	// docker load does (manifest.json); both must name the same image.
	img := imageFromLayout(t, archives[0], tmp)
	if d, _ := img.Digest(); d != digests[0] {
		t.Fatalf("the archive's OCI layout holds %s, built %s", d, digests[0])
	}
	dockerImg, err := tarball.ImageFromPath(archives[0], nil)
	if err != nil {
		t.Fatalf("docker-save view (manifest.json): %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if dcf, err := dockerImg.ConfigFile(); err != nil || !equalStrings(dcf.Config.Entrypoint, cf.Config.Entrypoint) {
		t.Fatalf("docker-save view disagrees: %v %v", err, dcf)
	}
	c := cf.Config
	t.Logf("image config: entrypoint %q cmd %q user %q env %q workdir %q", c.Entrypoint, c.Cmd, c.User, c.Env, c.WorkingDir)
	for k, want := range map[string]string{
		"org.opencontainers.image.source":   imagebuild.DefaultSource,
		"org.opencontainers.image.version":  "e2e",
		"org.opencontainers.image.revision": stamp.Commit,
		"org.opencontainers.image.created":  stamp.Date.UTC().Format(time.RFC3339),
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if !cf.Created.Time.Equal(stamp.Date) {
		t.Errorf("created %s, want the commit time %s", cf.Created.Time, stamp.Date)
	}

	rootfs := filepath.Join(tmp, "rootfs")
	unpack(t, img, rootfs)
	uid, gid := imageUser(t, c.User, rootfs)
	if uid == 0 {
		t.Fatalf("the image runs as root (user %q)", c.User)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		t.Errorf("no CA certificates: %v", err)
	}
	bin := filepath.Join(rootfs, c.Entrypoint[0])
	if f, err := elf.Open(bin); err != nil {
		t.Fatal(err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked: it cannot run from scratch", c.Entrypoint[0])
			}
		}
		f.Close()
	}

	// The sandbox kubeconfig, flattened (certificates inline) and readable
	// by the image's user, inside the image's filesystem.
	kc, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*flatten(t, kc), filepath.Join(rootfs, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(rootfs, "kubeconfig"), 0o644); err != nil {
		t.Fatal(err)
	}

	probe := freePort(t)
	args := append(append(append([]string{}, c.Entrypoint...), c.Cmd...),
		"--kubeconfig=/kubeconfig", "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:"+probe)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = c.Env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if os.Geteuid() == 0 {
		// The image's filesystem is the process's root and its user the
		// process's user, as a container runtime would run it.
		cmd.Dir = c.WorkingDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	} else {
		t.Logf("not root: running %s from the unpacked image as uid %d, without chroot", c.Entrypoint[0], os.Getuid())
		cmd.Path, cmd.Args[0] = bin, bin
		for i, a := range cmd.Args {
			cmd.Args[i] = strings.Replace(a, "--kubeconfig=/kubeconfig", "--kubeconfig="+filepath.Join(rootfs, "kubeconfig"), 1)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the image's entrypoint %q: %v", args, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("controller (from the image) output:\n%s", logs.String())
		}
	}()
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the controller exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://127.0.0.1:" + probe + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if os.Geteuid() == 0 {
		if got := procUID(t, cmd.Process.Pid); got != strconv.Itoa(int(uid)) {
			t.Fatalf("controller runs as uid %s, want the image's %d", got, uid)
		}
	}

	ns := env.Namespace(t)
	ro := templateRollout(ns, "web", "web:1", 5, seedSteps())
	create(t, env, ro)
	expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	bump(t, env, ro, "web:2")
	expectCanary(t, env, ns, "web", 1, 4, v1alpha1.RolloutPhasePaused, 1)
	promote(t, env, ns, "web")
	expectCanary(t, env, ns, "web", 3, 3, v1alpha1.RolloutPhasePaused, 3)
	promote(t, env, ns, "web")
	got := expectCanary(t, env, ns, "web", 5, 0, v1alpha1.RolloutPhaseHealthy, 4)
	if got.Status.StableRS != got.Status.CurrentPodHash {
		t.Fatalf("canary not promoted: %+v", got.Status)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("controller did not stop cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("controller did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(logs.String(), `"version": "e2e"`) && !strings.Contains(logs.String(), `"version":"e2e"`) {
		t.Errorf("the controller's start line does not carry the stamped version:\n%s", firstLines(logs.String(), 5))
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// imageFromLayout extracts archive and opens the one image of its OCI layout.
func imageFromLayout(t *testing.T, archive, tmp string) v1.Image {
	t.Helper()
	dir := filepath.Join(tmp, "layout")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("not an OCI layout: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(m.Manifests))
	}
	if name := m.Manifests[0].Annotations["io.containerd.image.name"]; name != "ghcr.io/sluice-dev/sluice:e2e" {
		t.Fatalf("index.json names the image %q", name)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// unpack writes the image's flattened filesystem to dir with the modes and
// owners of its tar entries.
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	root := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s (type %c) in the image", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if root {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// imageUser resolves the config's User ("65532:65532" or a name) against
// the image's /etc/passwd, which must know it.
func imageUser(t *testing.T, user, rootfs string) (uint32, uint32) {
	t.Helper()
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil {
		t.Fatalf("the image has no /etc/passwd: %v", err)
	}
	name, _, _ := strings.Cut(user, ":")
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || (f[0] != name && f[2] != name) {
			continue
		}
		uid, _ := strconv.Atoi(f[2])
		gid, _ := strconv.Atoi(f[3])
		return uint32(uid), uint32(gid)
	}
	t.Fatalf("user %q is not in the image's /etc/passwd:\n%s", user, passwd)
	return 0, 0
}

func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	return "?"
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// flatten inlines the certificate files a kubeconfig names: inside the
// image's filesystem the host's paths do not exist.
func flatten(t *testing.T, kc *clientcmdapi.Config) *clientcmdapi.Config {
	t.Helper()
	if err := clientcmdapi.FlattenConfig(kc); err != nil {
		t.Fatal(err)
	}
	return kc
}
