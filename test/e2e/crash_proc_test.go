package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildSluice builds ./cmd/sluice into a temporary directory, so the crash
// test can run the controller as its own OS process and SIGKILL it.
func buildSluice(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	t.Logf("built %s in %v", bin, time.Since(start).Round(100*time.Millisecond))
	return bin
}

// controllerProc runs `sluice controller` as a child process, one "life"
// after another: the killer SIGKILLs a life at a random moment and starts
// the next one at once. No leader election (the binary's default), so a new
// life does not wait for a dead leader's Lease.
type controllerProc struct {
	bin, kubeconfig, ns string
	logPath             string
	log                 *os.File
	logMu               sync.Mutex

	mu      sync.Mutex
	cur     *life
	lives   int
	crashed []string // lives that ended without our SIGKILL: the controller died by itself
	outside []string // lives stopped gracefully by a signal that was not ours

	// figures
	kills           int
	killsBeforeSync int // killed before the life logged "Starting workers"
	resumed         int // lives that reached "Starting workers" (reconciling again)
	byPhase         map[string]int
	lifeTimes       []time.Duration
	afterAction     int           // kills aimed at the reconcile that handles a driver's action
	actions         chan struct{} // a driver just acted (promote, abort, retry, image)
	phases          sync.Map      // driver → what it is doing (for the kill histogram)
}

type life struct {
	n       int
	cmd     *exec.Cmd
	started time.Time
	workers chan struct{} // closed when the life logs "Starting workers"
	exited  chan struct{}
	killed  atomic.Bool
	once    sync.Once
	// stopped: it exited with status 0 on a SIGTERM/SIGINT that did not
	// come from this test (something else on a shared machine); a graceful
	// stop, not a crash.
	stopped atomic.Bool
}

func newControllerProc(t *testing.T, bin, kubeconfig, ns string) *controllerProc {
	t.Helper()
	p := &controllerProc{bin: bin, kubeconfig: kubeconfig, ns: ns, byPhase: map[string]int{}, actions: make(chan struct{}, 8)}
	// Every life's output, kept after a failure for the post-mortem.
	f, err := os.CreateTemp("", "sluice-crash-controller-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p.log, p.logPath = f, f.Name()
	t.Cleanup(func() {
		p.stop()
		_ = f.Close()
		if !t.Failed() {
			_ = os.Remove(p.logPath)
		}
	})
	return p
}

// lineWriter copies a life's output into the shared log, prefixed with the
// life's number, and notices "Starting workers".
type lineWriter struct {
	p   *controllerProc
	l   *life
	buf []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.Contains(line, "Starting workers") {
			w.l.once.Do(func() { close(w.l.workers) })
		}
		w.p.logMu.Lock()
		fmt.Fprintf(w.p.log, "[life %d] %s\n", w.l.n, line)
		w.p.logMu.Unlock()
	}
}

// start starts the next life.
func (p *controllerProc) start() (*life, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lives++
	l := &life{n: p.lives, workers: make(chan struct{}), exited: make(chan struct{})}
	cmd := exec.Command(p.bin, "controller", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--namespace="+p.ns)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig)
	dieWithTest(cmd)
	w := &lineWriter{p: p, l: l}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l.cmd, l.started = cmd, time.Now()
	p.cur = l
	go func() {
		err := cmd.Wait()
		if !l.killed.Load() {
			p.mu.Lock()
			if err == nil {
				l.stopped.Store(true)
				p.outside = append(p.outside, fmt.Sprintf("life %d after %v", l.n, time.Since(l.started).Round(time.Millisecond)))
			} else {
				p.crashed = append(p.crashed, fmt.Sprintf("life %d exited by itself after %v: %v", l.n, time.Since(l.started).Round(time.Millisecond), err))
			}
			p.mu.Unlock()
		}
		close(l.exited)
	}()
	return l, nil
}

// acted tells the killer a driver just wrote an action.
func (p *controllerProc) acted() {
	select {
	case p.actions <- struct{}{}:
	default:
	}
}

// kill SIGKILLs the life and waits until it is gone.
func (p *controllerProc) kill(l *life, afterAction bool) {
	l.killed.Store(true)
	_ = l.cmd.Process.Signal(syscall.SIGKILL)
	<-l.exited
	synced := false
	select {
	case <-l.workers:
		synced = true
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kills++
	if afterAction {
		p.afterAction++
	}
	if synced {
		p.resumed++
	} else {
		p.killsBeforeSync++
	}
	p.phases.Range(func(driver, what any) bool {
		p.byPhase[driver.(string)+": "+what.(string)]++
		return true
	})
	p.lifeTimes = append(p.lifeTimes, time.Since(l.started))
}

func (p *controllerProc) killCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}

// setPhase says what a driver is doing, for the histogram of kills.
func (p *controllerProc) setPhase(driver, what string) { p.phases.Store(driver, what) }

// stop ends the running life (SIGKILL too: the test never needs a graceful stop).
func (p *controllerProc) stop() {
	p.mu.Lock()
	l := p.cur
	p.cur = nil
	p.mu.Unlock()
	if l != nil {
		l.killed.Store(true)
		_ = l.cmd.Process.Signal(syscall.SIGKILL)
		<-l.exited
	}
}

// killer runs lives until ctx ends and leaves the last one running. A
// quarter of the lives are killed in the startup window (uniform in [0, 1s)
// after the process starts, before or while its caches sync); the others
// uniform in [0, 2.5s) after the life started its workers, i.e. while it
// reconciles. When a driver acts (promote, abort, retry, a new image) during
// such a life, half the time the kill is moved to uniform [0, 400ms) after
// the action (if sooner), aiming at the reconcile that handles it. The
// delays come from rng, so a seed replays the same schedule relative to
// each process's own progress (not the wall clock).
func (p *controllerProc) killer(ctx context.Context, rng *rand.Rand) error {
	for {
		l, err := p.start()
		if err != nil {
			return err
		}
		early := rng.Float64() < 0.25
		var delay time.Duration
		if early {
			delay = time.Duration(rng.Int63n(int64(time.Second)))
		} else {
			delay = time.Duration(rng.Int63n(int64(2500 * time.Millisecond)))
		}
		gap := time.Duration(rng.Int63n(int64(300 * time.Millisecond)))
		if !early {
			select {
			case <-ctx.Done():
				return nil
			case <-l.exited:
				if l.stopped.Load() {
					continue
				}
				return errors.New(p.crashReport())
			case <-l.workers:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("controller life %d did not start its workers in 30s; log %s", l.n, p.logPath)
			}
			for len(p.actions) > 0 { // actions from before this life reconciled are not its to handle
				<-p.actions
			}
		}
		killAt := time.Now().Add(delay)
		afterAction := false
		timer := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-l.exited:
				timer.Stop()
				if l.stopped.Load() {
					break wait
				}
				return errors.New(p.crashReport())
			case <-p.actions:
				if early || rng.Float64() >= 0.5 {
					continue
				}
				if at := time.Now().Add(time.Duration(rng.Int63n(int64(400 * time.Millisecond)))); at.Before(killAt) {
					killAt, afterAction = at, true
					timer.Reset(time.Until(at))
				}
			case <-timer.C:
				break wait
			}
		}
		if !l.stopped.Load() {
			p.kill(l, afterAction)
		}
		select {
		case <-ctx.Done():
			// leave a controller running for the calm phase
			if _, err := p.start(); err != nil {
				return err
			}
			return nil
		case <-time.After(gap):
		}
	}
}

func (p *controllerProc) crashReport() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("the controller died without a SIGKILL: %s (log %s)", strings.Join(p.crashed, "; "), p.logPath)
}

// figures summarises the kills.
func (p *controllerProc) figures() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var phases []string
	for ph, n := range p.byPhase {
		phases = append(phases, fmt.Sprintf("%s=%d", ph, n))
	}
	sort.Strings(phases)
	var sum time.Duration
	for _, d := range p.lifeTimes {
		sum += d
	}
	outside := ""
	if len(p.outside) > 0 {
		outside = fmt.Sprintf("\n  lives stopped gracefully (exit 0) by a SIGTERM/SIGINT that was not this test's: %s", strings.Join(p.outside, ", "))
	}
	mean := time.Duration(0)
	if len(p.lifeTimes) > 0 {
		mean = sum / time.Duration(len(p.lifeTimes))
	}
	return fmt.Sprintf("controller SIGKILLs: %d (%d before its workers started, %d after it had resumed reconciling, "+
		"%d of those aimed within 400ms of a driver's action); controller processes started: %d; mean life %v\n"+
		"  kills by what each driver was doing:\n    %s",
		p.kills, p.killsBeforeSync, p.resumed, p.afterAction, p.lives, mean.Round(time.Millisecond), strings.Join(phases, "\n    ")) +
		outside
}
