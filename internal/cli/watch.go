package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/rolloutview"
)

// watcher keeps a live copy of one Rollout and, optionally, what its tree
// shows, with informers (list once, then watch: no polling), and signals
// every change on changed.
type watcher struct {
	name    string
	rollout cache.SharedIndexInformer
	rss     cache.SharedIndexInformer
	pods    cache.SharedIndexInformer
	runs    cache.SharedIndexInformer
	changed chan struct{}
}

// newWatcher watches Rollout name; with tree also its ReplicaSets, Pods and
// AnalysisRuns (Pods and AnalysisRuns only where the user may list them).
func newWatcher(ctx context.Context, c *clients, name string, tree bool) *watcher {
	w := &watcher{name: name, changed: make(chan struct{}, 1)}
	byName := func(lo *metav1.ListOptions) { lo.FieldSelector = "metadata.name=" + name }
	w.rollout = dynamicinformer.NewFilteredDynamicInformer(c.dyn, rolloutsGVR, c.ns, 0, cache.Indexers{}, byName).Informer()
	w.notifyOn(w.rollout)
	if !tree {
		return w
	}
	kf := informers.NewSharedInformerFactoryWithOptions(c.kube, 0, informers.WithNamespace(c.ns),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = rolloutview.PodTemplateHashLabel }))
	w.rss = kf.Apps().V1().ReplicaSets().Informer()
	w.notifyOn(w.rss)
	probe := metav1.ListOptions{LabelSelector: rolloutview.PodTemplateHashLabel, Limit: 1}
	if _, err := c.kube.CoreV1().Pods(c.ns).List(ctx, probe); err == nil {
		w.pods = kf.Core().V1().Pods().Informer()
		w.notifyOn(w.pods)
	}
	if _, err := c.dyn.Resource(analysisRunsGVR).Namespace(c.ns).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
		w.runs = dynamicinformer.NewFilteredDynamicInformer(c.dyn, analysisRunsGVR, c.ns, 0, cache.Indexers{}, nil).Informer()
		w.notifyOn(w.runs)
	}
	return w
}

func (w *watcher) notifyOn(inf cache.SharedIndexInformer) {
	notify := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	})
}

func (w *watcher) informers() []cache.SharedIndexInformer {
	var out []cache.SharedIndexInformer
	for _, inf := range []cache.SharedIndexInformer{w.rollout, w.rss, w.pods, w.runs} {
		if inf != nil {
			out = append(out, inf)
		}
	}
	return out
}

// start runs the informers until ctx ends and waits for their first list.
func (w *watcher) start(ctx context.Context) error {
	var synced []cache.InformerSynced
	for _, inf := range w.informers() {
		go inf.Run(ctx.Done())
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("could not start watching rollout %q", w.name)
	}
	return nil
}

// current is the Rollout as last seen, or nil once it is gone.
func (w *watcher) current() *v1alpha1.Rollout {
	for _, obj := range w.rollout.GetStore().List() {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok || u.GetName() != w.name {
			continue
		}
		var ro v1alpha1.Rollout
		if fromUnstructured(u, &ro) == nil {
			return &ro
		}
	}
	return nil
}

// snapshot is the tree's objects as last seen.
func (w *watcher) snapshot() (rolloutview.Objects, bool) {
	ro := w.current()
	if ro == nil {
		return rolloutview.Objects{}, false
	}
	o := rolloutview.Objects{Rollout: ro}
	if w.rss != nil {
		for _, obj := range w.rss.GetStore().List() {
			o.ReplicaSets = append(o.ReplicaSets, *obj.(*appsv1.ReplicaSet))
		}
	}
	if w.pods != nil {
		for _, obj := range w.pods.GetStore().List() {
			o.Pods = append(o.Pods, *obj.(*corev1.Pod))
		}
	}
	if w.runs != nil {
		for _, obj := range w.runs.GetStore().List() {
			var ar v1alpha1.AnalysisRun
			if u, ok := obj.(*unstructured.Unstructured); ok && fromUnstructured(u, &ar) == nil {
				o.AnalysisRuns = append(o.AnalysisRuns, ar)
			}
		}
	}
	return o, true
}

// settle is how long a burst of changes (a ReplicaSet and its pods moving
// together) is gathered before redrawing.
const settle = 25 * time.Millisecond

func watchRollout(ctx context.Context, c *clients, name string, out io.Writer, g getOptions) error {
	if _, err := c.getRollout(ctx, name); err != nil {
		return err
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	w := newWatcher(ctx, c, name, true)
	if err := w.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	scr := newScreen(out, !g.noColor && os.Getenv("TERM") != "dumb" && isTerminal(out))
	opts := rolloutview.RenderOptions{Color: useColor(out, g.noColor)}
	var tick <-chan time.Time
	if scr.tty { // ages move on a terminal; appended plain text only changes with the objects
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	draw := func() {
		objs, ok := w.snapshot()
		if !ok {
			scr.draw(fmt.Sprintf("rollout %q in namespace %q is gone; waiting for it to come back (Ctrl-C to stop)\n", name, c.ns))
			return
		}
		var b strings.Builder
		_ = rolloutview.Render(&b, rolloutview.Build(objs, rolloutview.Options{Now: time.Now(), Command: prog()}), opts)
		scr.draw(b.String())
	}
	draw()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
			time.Sleep(settle)
			select { // the changes gathered while settling are in this draw
			case <-w.changed:
			default:
			}
			draw()
		case <-tick:
			draw()
		}
	}
}

// screen shows successive views: redrawn in place on a terminal (cursor up,
// overwrite, clear the rest), or appended, each followed by a blank line,
// when not (a log, a pipe, a dumb terminal, --no-color).
type screen struct {
	out   io.Writer
	tty   bool
	lines int    // lines of the view on screen
	last  string // last view appended
}

func newScreen(out io.Writer, tty bool) *screen { return &screen{out: out, tty: tty} }

func (s *screen) draw(text string) {
	if !s.tty {
		if text == s.last {
			return
		}
		s.last = text
		fmt.Fprint(s.out, text+"\n")
		return
	}
	var b strings.Builder
	n := strings.Count(text, "\n")
	if s.lines > 0 {
		if h := s.height(); h > 0 && s.lines >= h {
			b.WriteString("\x1b[H\x1b[2J") // taller than the screen: start from the top
		} else {
			fmt.Fprintf(&b, "\x1b[%dA\r", s.lines)
		}
	}
	b.WriteString(strings.ReplaceAll(text, "\n", "\x1b[K\n"))
	b.WriteString("\x1b[J")
	s.lines = n
	fmt.Fprint(s.out, b.String())
}

func (s *screen) height() int {
	if f, ok := s.out.(*os.File); ok {
		if _, h, err := term.GetSize(int(f.Fd())); err == nil {
			return h
		}
	}
	return 0
}
