package provider

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Issue 16 #13: a Job just created but not yet in the cache is not an Error,
// and a measurement asked again (a lost status write) does not start a
// second Job.
func TestJobCacheLagAndRetry(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	api := fake.NewClientBuilder().WithScheme(scheme).Build()   // the API server
	cache := fake.NewClientBuilder().WithScheme(scheme).Build() // an informer cache that has not seen the Job yet
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "run", UID: "0123456789abcdef"}}
	metric := &v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}}}
	ctx := context.Background()

	first := Job{Client: api, Reader: api}.Run(ctx, run, metric)
	again := Job{Client: api, Reader: api}.Run(ctx, run, metric) // the Running measurement was never recorded
	if first.Phase != v1alpha1.AnalysisPhaseRunning || again.Phase != v1alpha1.AnalysisPhaseRunning ||
		first.Metadata[JobNameKey] != again.Metadata[JobNameKey] {
		t.Fatalf("a measurement asked twice must reuse its Job: %+v / %+v", first, again)
	}
	var jobs batchv1.JobList
	if err := api.List(ctx, &jobs); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("want exactly one Job, have %d (%v)", len(jobs.Items), err)
	}

	got := Job{Client: cache, Reader: api}.Resume(ctx, run, metric, first)
	if got.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("a Job the cache has not seen yet must stay Running, got %s: %s", got.Phase, got.Message)
	}
	gone := Job{Client: cache, Reader: cache}.Resume(ctx, run, metric, first)
	if gone.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(gone.Message, "gone") {
		t.Fatalf("a Job missing on the API server too is an Error saying so, got %s: %s", gone.Phase, gone.Message)
	}

	// The next measurement (after one finished) gets its own Job.
	run.Status.MetricResults = []v1alpha1.MetricResult{{Name: "smoke", Count: 1}}
	next := Job{Client: api, Reader: api}.Run(ctx, run, metric)
	if next.Metadata[JobNameKey] == first.Metadata[JobNameKey] {
		t.Fatal("the second measurement must not reuse the first one's Job")
	}
}
