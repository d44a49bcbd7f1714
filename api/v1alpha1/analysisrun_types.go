package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AnalysisRun is one execution of metrics: measured, judged, and summed up
// into a verdict a Rollout acts on.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ar,categories=sluice
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AnalysisRunSpec   `json:"spec"`
	Status            AnalysisRunStatus `json:"status,omitempty"`
}

// AnalysisRunList is a list of AnalysisRuns.
//
// +kubebuilder:object:root=true
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

// AnalysisRunSpec is the merged metrics and resolved arguments of a run.
type AnalysisRunSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Metrics []Metric `json:"metrics"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Args []Argument `json:"args,omitempty"`
	// Terminate ends the run; metrics not yet decided end Successful, as upstream.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// TTLStrategy deletes the run this long after it completes.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy is how long a completed run is kept: after any completion, after
// success, or after failure (the more specific one wins).
type TTLStrategy struct {
	// +kubebuilder:validation:Minimum=0
	// +optional
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +optional
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +optional
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// AnalysisRunStatus is the run's verdict and every metric's measurements.
type AnalysisRunStatus struct {
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// CompletedAt is when the run reached its final phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// +optional
	RunSummary RunSummary `json:"runSummary,omitempty"`
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
}

// MetricResult is one metric's measurements and counts.
type MetricResult struct {
	Name  string        `json:"name"`
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// RunSummary counts metrics by verdict.
type RunSummary struct {
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
}

func init() {
	SchemeBuilder.Register(&AnalysisRun{}, &AnalysisRunList{})
}
