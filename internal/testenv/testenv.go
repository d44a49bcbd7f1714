// Package testenv gives integration tests a real Kubernetes control plane:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler started by
// kwokctl (binary runtime) with kwok-simulated nodes, Sluice's CRDs
// installed, and the Sluice controller running in-process. One sandbox is
// shared by a test package (start it from TestMain); each test gets its own
// namespace.
//
// With `go test -short` the sandbox is not started and tests that need it
// are skipped; otherwise a sandbox that cannot start fails the tests.
package testenv

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manager"
)

// Env is one running sandbox.
type Env struct {
	Name       string
	Kubeconfig string
	Config     *rest.Config
	Client     client.Client
	Kube       kubernetes.Interface
	Root       string // repository root
	bin        string
	workdir    string
	stopCtrl   context.CancelFunc
	ctrlDone   chan struct{}
}

var (
	current *Env
	nonDNS  = regexp.MustCompile(`[^a-z0-9]+`)
)

// Main is TestMain for packages with sandbox tests: it starts the sandbox
// (unless -short), runs the tests, and tears the sandbox down.
func Main(m *testing.M, nodes int) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	env, err := Start(nodes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		os.Exit(1)
	}
	current = env
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// Get returns the package's sandbox, skipping the test under -short.
func Get(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the sandbox control plane; run without -short")
	}
	if current == nil {
		t.Fatal("testenv: no sandbox; call testenv.Main from TestMain")
	}
	return current
}

// Start builds the sandbox binaries if missing, starts a cluster with nodes
// kwok nodes and installs the CRDs.
func Start(nodes int) (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	cache := os.Getenv("SLUICE_CACHE_DIR")
	if cache == "" {
		base, _ := os.UserCacheDir()
		cache = filepath.Join(base, "sluice")
	}
	e := &Env{Root: root, bin: filepath.Join(cache, "bin"), workdir: filepath.Join(cache, "kwok")}
	if err := e.run(filepath.Join(root, "hack/sandbox/build.sh")); err != nil {
		return nil, fmt.Errorf("building sandbox binaries: %w", err)
	}
	e.reapStale()
	e.Name = fmt.Sprintf("sluice-test-%d", os.Getpid())
	dir, err := os.MkdirTemp("", e.Name)
	if err != nil {
		return nil, err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	cmd := exec.Command(filepath.Join(root, "hack/sandbox/up.sh"), e.Name, fmt.Sprint(nodes))
	cmd.Env = append(os.Environ(), "KUBECONFIG_OUT="+e.Kubeconfig, "KWOK_WORKDIR="+e.workdir, "SLUICE_CACHE_DIR="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("starting sandbox: %v\n%s", err, out)
	}
	if e.Config, err = clientcmd.BuildConfigFromFlags("", e.Kubeconfig); err != nil {
		e.Stop()
		return nil, err
	}
	e.Config.QPS, e.Config.Burst = 200, 400
	scheme := manager.Scheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	if e.Client, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
		e.Stop()
		return nil, err
	}
	e.Kube = kubernetes.NewForConfigOrDie(e.Config)
	if err := e.installCRDs(); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the controller and deletes the cluster.
func (e *Env) Stop() {
	e.StopController()
	cmd := exec.Command(filepath.Join(e.bin, "kwokctl"), "delete", "cluster", "--name", e.Name)
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+e.workdir)
	_ = cmd.Run()
	_ = os.RemoveAll(filepath.Dir(e.Kubeconfig))
}

// StartController runs the Sluice manager in-process until StopController.
func (e *Env) StartController() {
	if e.stopCtrl != nil {
		return
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel()),
		zap.StacktraceLevel(zapcore.DPanicLevel)))
	mgr, err := manager.New(e.Config, manager.Options{MetricsAddr: "0", ProbeAddr: "0", Restartable: true})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopCtrl, e.ctrlDone = cancel, make(chan struct{})
	go func() {
		defer close(e.ctrlDone)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: controller stopped: %v\n", err)
		}
	}()
}

// StopController stops the in-process controller and waits until it is gone.
func (e *Env) StopController() {
	if e.stopCtrl == nil {
		return
	}
	e.stopCtrl()
	<-e.ctrlDone
	e.stopCtrl = nil
}

// Namespace creates a namespace for the test and deletes it afterwards.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 50 {
		name = strings.Trim(name[:50], "-")
	}
	name += "-" + fmt.Sprint(time.Now().UnixNano()%100000)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		// A Rollout whose controller is gone by now (another instance, a
		// stopped process) would hold the namespace in Terminating.
		e.StripRolloutFinalizers(name)
		_ = e.Client.Delete(context.Background(), ns)
	})
	return name
}

// StripRolloutFinalizers removes the finalizers of every Rollout in
// namespace ("" for all), so deleting them (or their CRD) never waits for a
// controller that no longer runs.
func (e *Env) StripRolloutFinalizers(namespace string) {
	ctx := context.Background()
	var list v1alpha1.RolloutList
	if err := e.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return
	}
	for i := range list.Items {
		ro := &list.Items[i]
		if len(ro.Finalizers) == 0 {
			continue
		}
		_ = e.Client.Patch(ctx, ro, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
	}
}

// Kubectl runs kubectl against the sandbox.
func (e *Env) Kubectl(args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *Env) installCRDs() error {
	files, _ := filepath.Glob(filepath.Join(e.Root, "config/crd/argoproj.io_*.yaml"))
	if len(files) == 0 {
		return fmt.Errorf("no CRDs in %s/config/crd; run make manifests", e.Root)
	}
	return e.InstallCRDs(files...)
}

// InstallCRDs creates the CustomResourceDefinitions in files (one per file;
// one already there is kept) and waits until clients can use their kinds.
func (e *Env) InstallCRDs(files ...string) error {
	ctx := context.Background()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := e.Client.Create(ctx, &crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("installing %s: %w", f, err)
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var got apiextensionsv1.CustomResourceDefinition
			if err := e.Client.Get(ctx, client.ObjectKeyFromObject(&crd), &got); err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
		// Established is not yet discoverable: wait until clients can map the kind.
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := crd.Spec.Group + "/" + v.Name
			if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				res, err := e.Kube.Discovery().ServerResourcesForGroupVersion(gv)
				if err != nil {
					return false, nil
				}
				for _, r := range res.APIResources {
					if r.Name == crd.Spec.Names.Plural {
						return true, nil
					}
				}
				return false, nil
			}); err != nil {
				return fmt.Errorf("%s %s not discoverable: %w", gv, crd.Spec.Names.Plural, err)
			}
		}
	}
	return nil
}

// Bin is the path of a sandbox binary (built by hack/sandbox/build.sh), e.g. "helm".
func (e *Env) Bin(name string) string { return filepath.Join(e.bin, name) }

// GatewayAPICRD is the path of a Gateway API CRD of the standard channel
// (e.g. "httproutes"), from the sigs.k8s.io/gateway-api module Sluice
// builds with, so the sandbox needs no download.
func (e *Env) GatewayAPICRD(plural string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = e.Root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the sigs.k8s.io/gateway-api module: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard", "gateway.networking.k8s.io_"+plural+".yaml"), nil
}

// reapStale deletes sandboxes left by test processes that no longer run.
func (e *Env) reapStale() {
	cmd := exec.Command(filepath.Join(e.bin, "kwokctl"), "get", "clusters")
	cmd.Env = append(os.Environ(), "KWOK_WORKDIR="+e.workdir)
	out, _ := cmd.Output()
	for _, name := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscanf(name, "sluice-test-%d", &pid); err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		del := exec.Command(filepath.Join(e.bin, "kwokctl"), "delete", "cluster", "--name", name)
		del.Env = cmd.Env
		_ = del.Run()
	}
}

func (e *Env) run(path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the repository")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "../.."))
}

// zapLevel keeps controller logs quiet in tests unless SLUICE_TEST_LOG=debug.
func zapLevel() zapcore.Level {
	if os.Getenv("SLUICE_TEST_LOG") == "debug" {
		return -1
	}
	return 2
}

// RunController starts a second, separate Sluice manager with cfg (e.g. an
// impersonated, less privileged identity) watching only namespace, until
// the returned stop is called. Stop the shared controller first so the two
// do not both act on the same objects.
func (e *Env) RunController(cfg *rest.Config, namespace string) (stop func()) {
	return e.RunControllerWith(cfg, manager.Options{Namespace: namespace})
}

// RunControllerWith is RunController with more manager options (e.g. an
// instance id, a metrics address); probes are always off.
func (e *Env) RunControllerWith(cfg *rest.Config, o manager.Options) (stop func()) {
	o.ProbeAddr, o.Restartable = "0", true
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	mgr, err := manager.New(cfg, o)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Start(ctx)
	}()
	return func() { cancel(); <-done }
}
