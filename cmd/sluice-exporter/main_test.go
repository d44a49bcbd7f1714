package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles this command once for the package's tests.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice-exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The lean binary is the same exporter: the fixture log gives the counts the
// exporter package's own tests expect.
func TestCountsFixtureLikeSluiceExporter(t *testing.T) {
	bin := build(t)
	in, err := os.Open("../../internal/exporter/testdata/access.log")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(bin, "--exit-on-eof", "--listen", "", "--log-malformed-every", "0")
	cmd.Stdin = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if want := "16 lines: 6 parsed, 4 skipped, 6 malformed; 5 series"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr does not say %q:\n%s", want, stderr.String())
	}
}

func TestBadFlagExitsNonZero(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "--max-series", "x").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), `invalid argument "x" for "--max-series"`) {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// The point of this binary: it must not link the controller's dependencies.
func TestLinksNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, heavy := range []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "k8s.io/apimachinery", "github.com/sluice-dev/sluice/internal/controller"} {
			if strings.HasPrefix(dep, heavy) {
				t.Errorf("sluice-exporter links %s", dep)
			}
		}
	}
}
