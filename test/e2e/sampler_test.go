package e2e

import (
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sluice-dev/sluice/internal/testenv"
)

// availabilitySampler watches a Rollout's ReplicaSets and records the lowest
// total of available pods seen, to prove an update never takes the app
// below spec.replicas − maxUnavailable.
type availabilitySampler struct {
	mu      sync.Mutex
	min     int32
	samples int
	w       watch.Interface
	done    chan struct{}
}

func sampleAvailability(t *testing.T, env *testenv.Env, ns, rollout string) *availabilitySampler {
	t.Helper()
	// List first, then watch from there: the watch's initial ADDED events
	// would otherwise be summed one ReplicaSet at a time.
	list, err := env.Kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing ReplicaSets: %v", err)
	}
	avail := map[string]int32{}
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.Name == rollout {
			avail[list.Items[i].Name] = list.Items[i].Status.AvailableReplicas
		}
	}
	w, err := env.Kube.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watching ReplicaSets: %v", err)
	}
	s := &availabilitySampler{min: 1 << 30, w: w, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			if ref := metav1.GetControllerOf(rs); ref == nil || ref.Name != rollout {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(avail, rs.Name)
			} else {
				avail[rs.Name] = rs.Status.AvailableReplicas
			}
			var total int32
			for _, a := range avail {
				total += a
			}
			s.mu.Lock()
			s.min = min(s.min, total)
			s.samples++
			s.mu.Unlock()
		}
	}()
	return s
}

// check stops the sampler and fails the test if availability dipped below floor.
func (s *availabilitySampler) check(t *testing.T, floor int32) {
	t.Helper()
	s.w.Stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == 0 {
		t.Fatal("availability sampler saw no ReplicaSet changes")
	}
	if s.min < floor {
		t.Fatalf("available pods dropped to %d, below replicas − maxUnavailable = %d (%d samples)", s.min, floor, s.samples)
	}
	t.Logf("availability never below %d (floor %d) over %d samples", s.min, floor, s.samples)
}

// samplePods watches the pods labelled app=<app> and records the lowest
// number of Ready pods seen, whoever owns them (a Deployment and a Rollout
// serving side by side).
func samplePods(t *testing.T, env *testenv.Env, ns, app string) *availabilitySampler {
	t.Helper()
	list, err := env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	ready := map[string]bool{}
	for i := range list.Items {
		ready[list.Items[i].Name] = podIsReady(&list.Items[i])
	}
	w, err := env.Kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + app, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watching pods: %v", err)
	}
	s := &availabilitySampler{min: 1 << 30, w: w, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			ready[p.Name] = ev.Type != watch.Deleted && p.DeletionTimestamp == nil && podIsReady(p)
			var n int32
			for _, r := range ready {
				if r {
					n++
				}
			}
			s.mu.Lock()
			s.min = min(s.min, n)
			s.samples++
			s.mu.Unlock()
		}
	}()
	return s
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
