package provider

import (
	"context"
	"fmt"
	"strings"

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
//
// A Job just created is often not in the informer cache yet, and a status
// write that records the Running measurement can be lost. Neither may cost
// an Error measurement or a second Job: each measurement has a Job name
// derived from the run and the measurement's number (JobName), an existing
// Job of that name is the measurement's own (AlreadyExists is adopted), and
// a Job the cache does not know is looked up on the API server (Reader)
// before it is called missing.
type Job struct {
	Client client.Client
	// Reader reads without the cache; nil means Client.
	Reader client.Reader
}

// JobName is the Job of a run's n-th measurement of metric (n from 1): the
// same every time it is asked, so a retried reconcile finds the Job again.
func JobName(run *v1alpha1.AnalysisRun, metric string, n int32) string {
	return fmt.Sprintf("%s.%s.%d", string(run.UID)[:8], metric, n)
}

// Run creates the measurement's Job (or adopts it if it exists) and returns a
// Running measurement.
func (j Job) Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	start := started()
	var n int32 = 1
	for _, r := range run.Status.MetricResults {
		if r.Name == metric.Name {
			n = r.Count + r.Error + 1 // measurements finished so far (count excludes errors) + this one
		}
	}
	name := JobName(run, metric.Name, n)
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
	msg := fmt.Sprintf("Job %q running", name)
	if err := j.Client.Create(ctx, job); apierrors.IsAlreadyExists(err) {
		msg = fmt.Sprintf("Job %q running (created by an earlier attempt of this measurement)", name)
	} else if err != nil {
		return errored(start, "creating Job %q: %v", name, err)
	}
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: start,
		Metadata: map[string]string{JobNameKey: name}, Message: msg}
}

// Resume reads the Job's outcome. A Job the cache does not have yet is read
// from the API server; only a Job gone from both is an Error.
func (j Job) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	name := m.Metadata[JobNameKey]
	var job batchv1.Job
	key := client.ObjectKey{Namespace: run.Namespace, Name: name}
	err := j.Client.Get(ctx, key, &job)
	if apierrors.IsNotFound(err) && j.Reader != nil {
		err = j.Reader.Get(ctx, key, &job)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return errored(m.StartedAt, "Job %q of this measurement is gone (deleted before it finished)", name)
		}
		// Not an answer about the Job: stay Running and look again.
		m.Message = fmt.Sprintf("Job %q running; could not read it just now: %v", name, err)
		return m
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

// Terminate deletes the Job of a measurement whose run is ending, with its pods.
func (j Job) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Measurement) {
	name := m.Metadata[JobNameKey]
	if name == "" || !strings.HasPrefix(name, string(run.UID)[:8]+".") {
		return
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: name}}
	_ = j.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)) // best effort: the run owns it, GC removes it too
}
