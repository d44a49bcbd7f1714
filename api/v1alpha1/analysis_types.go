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

// DurationString is a Go duration such as 30s, 5m or 1h30m, or one
// {{args.NAME}} placeholder filled in when the run is made.
// +kubebuilder:validation:Pattern=`^(([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+|\{\{ *args\.[^{}]+ *\}\})$`
type DurationString string

// Metric is one measurement to take repeatedly and judge.
//
// +kubebuilder:validation:XValidation:rule="has(self.successCondition) || has(self.failureCondition) || has(self.provider.job) || has(self.provider.kayenta) || has(self.provider.plugin)",message="a metric needs successCondition or failureCondition (a job, kayenta or plugin metric may use neither)"
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

// MetricProvider holds exactly one source of measurements. Sluice measures
// prometheus, web and job; every other provider is kept in the schema (so an
// upstream manifest round-trips) and refused when a run would use it.
//
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.web), has(self.job), has(self.plugin), has(self.kayenta), has(self.datadog), has(self.wavefront), has(self.newRelic), has(self.cloudWatch), has(self.graphite), has(self.influxdb), has(self.skywalking)].exists_one(x, x)",message="a metric provider must set exactly one provider (Sluice measures prometheus, web and job)"
type MetricProvider struct {
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// Plugin is accepted for compatibility; Sluice refuses it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Plugin map[string]runtime.RawExtension `json:"plugin,omitempty"`

	// The providers below are upstream's; Sluice refuses each by name.

	// +optional
	Kayenta *KayentaMetric `json:"kayenta,omitempty"`
	// +optional
	Datadog *DatadogMetric `json:"datadog,omitempty"`
	// +optional
	Wavefront *WavefrontMetric `json:"wavefront,omitempty"`
	// +optional
	NewRelic *NewRelicMetric `json:"newRelic,omitempty"`
	// +optional
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`
	// +optional
	Graphite *GraphiteMetric `json:"graphite,omitempty"`
	// +optional
	Influxdb *InfluxdbMetric `json:"influxdb,omitempty"`
	// +optional
	SkyWalking *SkyWalkingMetric `json:"skywalking,omitempty"`
}

// PrometheusMetric queries the Prometheus HTTP API (VictoriaMetrics serves it too).
type PrometheusMetric struct {
	// Address is the server's base URL, e.g. http://prometheus:9090.
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address"`
	// Query is PromQL; {{args.NAME}} placeholders are filled in.
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
	// RangeQuery runs the query over a time range (query_range); the result is
	// the list of the series' values.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
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
	// Authentication: basicAuth or oauth2 (client credentials). sigv4 is refused.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`
}

// PrometheusRangeQueryArgs bounds a range query. Start and end are
// expressions Prometheus-style: "now()", "now() - duration('1h')"; step is a
// duration such as 1m.
type PrometheusRangeQueryArgs struct {
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
	// +optional
	Step string `json:"step,omitempty"`
}

// Authentication of a metric query: one of basicAuth, oauth2, sigv4.
type Authentication struct {
	// +optional
	Sigv4 *Sigv4Config `json:"sigv4,omitempty"`
	// +optional
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
}

// Sigv4Config signs requests for AWS Managed Prometheus; Sluice refuses it.
type Sigv4Config struct {
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	Profile string `json:"profile,omitempty"`
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// OAuth2Config fetches a bearer token with the client-credentials grant.
type OAuth2Config struct {
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	Password string `json:"password,omitempty"`
}

// KayentaMetric is upstream's Kayenta canary-judge provider.
type KayentaMetric struct {
	Address                  string           `json:"address"`
	Application              string           `json:"application"`
	CanaryConfigName         string           `json:"canaryConfigName"`
	MetricsAccountName       string           `json:"metricsAccountName"`
	ConfigurationAccountName string           `json:"configurationAccountName"`
	StorageAccountName       string           `json:"storageAccountName"`
	Threshold                KayentaThreshold `json:"threshold"`
	Scopes                   []KayentaScope   `json:"scopes"`
	// +optional
	Lookback bool `json:"lookback,omitempty"`
}

// KayentaThreshold is the score that passes, and the one that is marginal.
type KayentaThreshold struct {
	Pass     int64 `json:"pass"`
	Marginal int64 `json:"marginal"`
}

// KayentaScope is one named pair of control and experiment scopes.
type KayentaScope struct {
	Name            string      `json:"name"`
	ControlScope    ScopeDetail `json:"controlScope"`
	ExperimentScope ScopeDetail `json:"experimentScope"`
}

// ScopeDetail is a Kayenta scope.
type ScopeDetail struct {
	Scope  string `json:"scope"`
	Region string `json:"region"`
	Step   int64  `json:"step"`
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
}

// DatadogMetric is upstream's Datadog provider.
type DatadogMetric struct {
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Queries map[string]string `json:"queries,omitempty"`
	// +optional
	Formula string `json:"formula,omitempty"`
	// +kubebuilder:validation:Enum=v1;v2
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=avg;min;max;sum;last;percentile;mean;l2norm;area
	// +optional
	Aggregator string `json:"aggregator,omitempty"`
	// +optional
	SecretRef *DatadogSecretRef `json:"secretRef,omitempty"`
	// +optional
	RequestTimeout DurationString `json:"requestTimeout,omitempty"`
}

// DatadogSecretRef names the Secret with Datadog's keys.
type DatadogSecretRef struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespaced bool `json:"namespaced,omitempty"`
}

// WavefrontMetric is upstream's Wavefront provider.
type WavefrontMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// NewRelicMetric is upstream's New Relic provider.
type NewRelicMetric struct {
	// +optional
	Profile string `json:"profile,omitempty"`
	Query   string `json:"query"`
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
}

// CloudWatchMetric is upstream's AWS CloudWatch provider.
type CloudWatchMetric struct {
	// +optional
	Interval          DurationString              `json:"interval,omitempty"`
	MetricDataQueries []CloudWatchMetricDataQuery `json:"metricDataQueries"`
}

// CloudWatchMetricDataQuery is one CloudWatch metric data query.
type CloudWatchMetricDataQuery struct {
	// +optional
	ID string `json:"id,omitempty"`
	// +optional
	Expression *string `json:"expression,omitempty"`
	// +optional
	Label *string `json:"label,omitempty"`
	// +optional
	MetricStat *CloudWatchMetricStat `json:"metricStat,omitempty"`
	// +kubebuilder:validation:XIntOrString
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`
	// +optional
	ReturnData *bool `json:"returnData,omitempty"`
}

// CloudWatchMetricStat is a CloudWatch metric with its statistic.
type CloudWatchMetricStat struct {
	// +optional
	Metric CloudWatchMetricStatMetric `json:"metric,omitempty"`
	// +kubebuilder:validation:XIntOrString
	// +optional
	Period intstr.IntOrString `json:"period,omitempty"`
	// +optional
	Stat string `json:"stat,omitempty"`
	// +optional
	Unit string `json:"unit,omitempty"`
}

// CloudWatchMetricStatMetric names a CloudWatch metric.
type CloudWatchMetricStatMetric struct {
	// +optional
	Dimensions []CloudWatchMetricStatMetricDimension `json:"dimensions,omitempty"`
	// +optional
	MetricName string `json:"metricName,omitempty"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// CloudWatchMetricStatMetricDimension is one dimension of a CloudWatch metric.
type CloudWatchMetricStatMetricDimension struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
}

// GraphiteMetric is upstream's Graphite provider.
type GraphiteMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// InfluxdbMetric is upstream's InfluxDB provider.
type InfluxdbMetric struct {
	// +optional
	Profile string `json:"profile,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// SkyWalkingMetric is upstream's Apache SkyWalking provider.
type SkyWalkingMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Interval DurationString `json:"interval,omitempty"`
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
	// Authentication: basicAuth or oauth2 (client credentials). sigv4 is refused.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`
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
//
// +kubebuilder:validation:XValidation:rule="(has(self.metrics) && size(self.metrics) > 0) || (has(self.templates) && size(self.templates) > 0)",message="a template needs metrics or templates"
type AnalysisTemplateSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Metrics []Metric `json:"metrics,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Args []Argument `json:"args,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// Templates are other templates whose metrics, args, dryRun and
	// measurementRetention are merged into this one's when a run is made.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
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
