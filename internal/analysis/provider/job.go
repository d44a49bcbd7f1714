package provider

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// JobNameKey is the measurement metadata key naming the Job.
const JobNameKey = "job-name"

// Job runs a Kubernetes Job per measurement: Complete is Successful,
// Failed is Failed.
type Job struct{ Client client.Client }

// Run creates the Job and returns a Running measurement.
func (j Job) Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	start := started()
	n := 0
	for _, r := range run.Status.MetricResults {
		if r.Name == metric.Name {
			n = int(r.Count) + 1
		}
	}
	name := fmt.Sprintf("%s.%s.%d", string(run.UID)[:8], metric.Name, max(n, 1))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: run.Namespace,
			Labels:          map[string]string{"analysisrun": run.Name, "metric": metric.Name},
			Annotations:     metric.Provider.Job.Metadata.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, v1alpha1.GroupVersion.WithKind("AnalysisRun"))},
		},
		Spec: *metric.Provider.Job.Spec.DeepCopy(),
	}
	for k, v := range metric.Provider.Job.Metadata.Labels {
		job.Labels[k] = v
	}
	if err := j.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return errored(start, "creating Job %q: %v", name, err)
	}
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: start,
		Metadata: map[string]string{JobNameKey: name}, Message: fmt.Sprintf("Job %q running", name)}
}

// Resume reads the Job's outcome.
func (j Job) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	name := m.Metadata[JobNameKey]
	var job batchv1.Job
	if err := j.Client.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: name}, &job); err != nil {
		return errored(m.StartedAt, "reading Job %q: %v", name, err)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			m.Phase, m.Message, m.FinishedAt = v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("Job %q completed", name), started()
		case batchv1.JobFailed:
			m.Phase, m.Message, m.FinishedAt = v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("Job %q failed: %s", name, c.Message), started()
		}
	}
	return m
}
