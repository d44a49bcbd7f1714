package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnalysisPhase is the verdict of a measurement, a metric or a whole run.
type AnalysisPhase string

// Analysis phases, with upstream's meaning.
const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseError        AnalysisPhase = "Error"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// DurationString is a Go duration such as 30s, 5m or 1h30m.
// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
type DurationString string

// Metric is one measurement to take repeatedly and judge.
//
// +kubebuilder:validation:XValidation:rule="has(self.successCondition) || has(self.failureCondition) || has(self.provider.job)",message="a metric needs successCondition or failureCondition (a job metric may use neither)"
type Metric struct {
	// Name identifies the metric within the run.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Name string `json:"name"`
	// Interval between measurements. Without it the metric is measured once
	// (unless count says otherwise).
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// InitialDelay before the first measurement.
	// +optional
	InitialDelay DurationString `json:"initialDelay,omitempty"`
	// Count of measurements to take; 0 or unset with an interval means until
	// the run is terminated.
	// +kubebuilder:validation:XIntOrString
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expression over `result`; true is Successful.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expression over `result`; true is Failed.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit is how many Failed measurements are tolerated. Default 0;
	// -1 disables it (then consecutiveSuccessLimit must be set), as upstream.
	// +kubebuilder:validation:XIntOrString
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many Inconclusive measurements are tolerated. Default 0.
	// +kubebuilder:validation:XIntOrString
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many Errors in a row are tolerated. Default 4.
	// +kubebuilder:validation:XIntOrString
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit is how many Successful measurements in a row
	// make the metric Successful early. Default 0 (disabled). With count set
	// and neither limit reached, the metric ends Inconclusive (failureLimit
	// >= 0) or Failed (failureLimit -1), as upstream.
	// +kubebuilder:validation:XIntOrString
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider is where the measurement comes from.
	Provider MetricProvider `json:"provider"`
}

// MetricProvider holds exactly one source of measurements.
//
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.web), has(self.job), has(self.plugin)].exists_one(x, x)",message="a metric provider must set exactly one of prometheus, web, job (Sluice's providers) or plugin"
type MetricProvider struct {
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// Plugin is accepted for compatibility; Sluice reports it unsupported.
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	Plugin map[string]runtime.RawExtension `json:"plugin,omitempty"`
}

// PrometheusMetric queries the Prometheus HTTP API (VictoriaMetrics serves it too).
type PrometheusMetric struct {
	// Address is the server's base URL, e.g. http://prometheus:9090.
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address"`
	// Query is PromQL; {{args.NAME}} placeholders are filled in.
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
	// Timeout of the query in seconds.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Headers sent with the query, e.g. Authorization.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// Authentication is accepted for compatibility (sigv4, oauth2).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Authentication *runtime.RawExtension `json:"authentication,omitempty"`
}

// WebMetric calls an HTTP endpoint and judges its (JSON) answer.
type WebMetric struct {
	// +kubebuilder:validation:Enum=GET;POST;PUT
	// +optional
	Method string `json:"method,omitempty"`
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// +optional
	Body string `json:"body,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	JSONBody *runtime.RawExtension `json:"jsonBody,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath picks the value judged, e.g. {$.status}.
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// WebMetricHeader is one HTTP header.
type WebMetricHeader struct {
	// +kubebuilder:validation:MinLength=1
	Key   string `json:"key"`
	Value string `json:"value"`
}

// JobMetric runs a Kubernetes Job: Complete is Successful, Failed is Failed.
type JobMetric struct {
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	Spec     batchv1.JobSpec     `json:"spec"`
}

// Argument is a template parameter, filled into {{args.NAME}}.
type Argument struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Value *string `json:"value,omitempty"`
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom reads an argument from a Secret or a field of the Rollout.
type ValueFrom struct {
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef is one key of a Secret in the run's namespace.
type SecretKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
}

// DryRun names metrics whose verdict is recorded but never fails the run.
type DryRun struct {
	// MetricName, or "*" for all.
	// +kubebuilder:validation:MinLength=1
	MetricName string `json:"metricName"`
}

// MeasurementRetention keeps this many measurements of a metric.
type MeasurementRetention struct {
	// +kubebuilder:validation:MinLength=1
	MetricName string `json:"metricName"`
	// +kubebuilder:validation:Minimum=0
	Limit int32 `json:"limit"`
}

// AnalysisTemplateSpec is the shared body of both template kinds.
type AnalysisTemplateSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Metrics []Metric `json:"metrics"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Args []Argument `json:"args,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
}

// Measurement is one taken value and its verdict.
type Measurement struct {
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
