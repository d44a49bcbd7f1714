package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The actions of a canary step other than setWeight, pause, analysis and
// setCanaryScale: upstream's plugin, header/mirror routes and experiments.
// Sluice carries them in the schema so manifests round-trip, and refuses them
// by name (StepNotSupported).

// StepPlugin names a step plugin and its free-form config.
type StepPlugin struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Config *runtime.RawExtension `json:"config,omitempty"`
}

// StringMatch matches a string exactly, by prefix or by regular expression.
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// SetHeaderRoute points a managed route at the canary for matching headers.
type SetHeaderRoute struct {
	// Name of a trafficRouting.managedRoutes entry.
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch is one header and the values it must have.
type HeaderRoutingMatch struct {
	HeaderName  string      `json:"headerName"`
	HeaderValue StringMatch `json:"headerValue"`
}

// SetMirrorRoute mirrors a share of matching traffic to the canary.
type SetMirrorRoute struct {
	// Name of a trafficRouting.managedRoutes entry.
	Name string `json:"name"`
	// +optional
	Match []RouteMatch `json:"match,omitempty"`
	// Percentage of matching traffic mirrored.
	// +optional
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch matches requests by method, path and headers.
type RouteMatch struct {
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// RolloutExperimentStep is upstream's experiment step.
type RolloutExperimentStep struct {
	Templates []RolloutExperimentTemplate `json:"templates"`
	// Duration as a Go duration; empty runs until the step is left.
	// +optional
	Duration string `json:"duration,omitempty"`
	// +optional
	Analyses []RolloutExperimentStepAnalysisTemplateRef `json:"analyses,omitempty"`
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	AnalysisRunMetadata *PodTemplateMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutExperimentTemplate is one version an experiment runs.
type RolloutExperimentTemplate struct {
	Name string `json:"name"`
	// SpecRef is stable or canary: whose pod template to run.
	SpecRef string `json:"specRef"`
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// TemplateService asks for a Service in front of an experiment's version.
type TemplateService struct {
	// +optional
	Name string `json:"name,omitempty"`
}

// RolloutExperimentStepAnalysisTemplateRef is an analysis run beside an experiment.
type RolloutExperimentStepAnalysisTemplateRef struct {
	Name         string `json:"name"`
	TemplateName string `json:"templateName"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}
