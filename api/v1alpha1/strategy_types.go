package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutStrategy holds exactly one of canary or blueGreen.
//
// +kubebuilder:validation:XValidation:rule="has(self.canary) != has(self.blueGreen)",message="exactly one of spec.strategy.canary or spec.strategy.blueGreen must be set"
type RolloutStrategy struct {
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
}

// CanaryStrategy shifts the new version in by steps. Without trafficRouting
// the weight is carried by pod counts: the Service selects both ReplicaSets.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.maxSurge) && has(self.maxUnavailable) && string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",message="spec.strategy.canary.maxSurge and maxUnavailable cannot both be 0"
// +kubebuilder:validation:XValidation:rule="!has(self.trafficRouting) || has(self.trafficRouting.istio) || (has(self.stableService) && has(self.canaryService))",message="spec.strategy.canary.trafficRouting needs both stableService and canaryService"
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, !has(s.setWeight) || s.setWeight <= (has(self.trafficRouting) && has(self.trafficRouting.maxTrafficWeight) ? self.trafficRouting.maxTrafficWeight : 100))",message="setWeight must be at most 100, or at most spec.strategy.canary.trafficRouting.maxTrafficWeight when that is set"
// +kubebuilder:validation:XValidation:rule="has(self.trafficRouting) || !has(self.steps) || self.steps.all(s, !has(s.setHeaderRoute) && !has(s.setMirrorRoute))",message="setHeaderRoute and setMirrorRoute steps need spec.strategy.canary.trafficRouting with managedRoutes"
// +kubebuilder:validation:XValidation:rule="has(self.trafficRouting) || !has(self.steps) || self.steps.all(s, !has(s.setCanaryScale))",message="setCanaryScale steps need spec.strategy.canary.trafficRouting; without a router the weight is carried by pod counts"
type CanaryStrategy struct {
	// CanaryService selects only canary pods (used with trafficRouting).
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
	// StableService selects only stable pods (used with trafficRouting).
	// +optional
	StableService string `json:"stableService,omitempty"`
	// Steps are walked in order for every update after the first.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// TrafficRouting splits traffic at a router instead of by pod count.
	// +optional
	TrafficRouting *TrafficRouting `json:"trafficRouting,omitempty"`
	// MaxUnavailable pods below spec.replicas during the update (int or
	// percent, rounded down). Default 25%.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:Pattern=`^[0-9]+%?$`
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="type(self) != int || self >= 0",message="must be a non-negative integer or a percentage like 25%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge pods above spec.replicas during the update (int or percent,
	// rounded up). Default 25%.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:Pattern=`^[0-9]+%?$`
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="type(self) != int || self >= 0",message="must be a non-negative integer or a percentage like 25%"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// Analysis runs in the background through the update and aborts it on failure.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`
	// CanaryMetadata is added to canary pods.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata is added to stable pods.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`
	// ScaleDownDelaySeconds keeps the old ReplicaSet up after a routed switch. Default 30.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit caps old ReplicaSets kept up during the delay.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds keeps the canary up after an abort. Default 30;
	// 0 keeps it until the next update or retry, as upstream.
	// +kubebuilder:validation:Minimum=0
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// DynamicStableScale scales the stable ReplicaSet down as traffic leaves it.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`
	// MinPodsPerReplicaSet is the least number of canary pods at a non-zero weight.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`
	// AntiAffinity keeps new pods off the nodes of the old version's pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// PingPong alternates two Services as stable and canary (ALB only upstream).
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`
	// ReplicaProgressThreshold is how many canary pods must be available for a
	// step to count as done.
	// +optional
	ReplicaProgressThreshold *ReplicaProgressThreshold `json:"replicaProgressThreshold,omitempty"`
}

// AntiAffinity asks the scheduler to keep a new version's pods away from the
// nodes running the previous version's pods: as a preference with a weight,
// or as a requirement.
type AntiAffinity struct {
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredAntiAffinity `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredAntiAffinity `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredAntiAffinity is a soft anti-affinity with a scheduling weight.
type PreferredAntiAffinity struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
}

// RequiredAntiAffinity is a hard anti-affinity; it has no settings.
type RequiredAntiAffinity struct{}

// PingPongSpec names the two Services that take turns being stable.
type PingPongSpec struct {
	PingService string `json:"pingService"`
	PongService string `json:"pongService"`
}

// Replica progress threshold types.
const (
	ProgressTypePercent = "Percent"
	ProgressTypePods    = "Pods"
)

// ReplicaProgressThreshold is a pod count or a percent of the step's canary pods.
type ReplicaProgressThreshold struct {
	// +kubebuilder:validation:Enum=Percent;Pods
	Type string `json:"type"`
	// +kubebuilder:validation:Minimum=0
	Value int32 `json:"value"`
}

// CanaryStep is one step of a canary; it sets exactly one action.
//
// +kubebuilder:validation:XValidation:rule="[has(self.setWeight), has(self.pause), has(self.analysis), has(self.setCanaryScale), has(self.experiment), has(self.setHeaderRoute), has(self.setMirrorRoute), has(self.plugin)].exists_one(x, x)",message="each canary step must set exactly one of setWeight, pause, analysis, setCanaryScale, experiment, setHeaderRoute, setMirrorRoute, plugin"
type CanaryStep struct {
	// SetWeight sends this percent of traffic (or pods) to the canary; with
	// trafficRouting.maxTrafficWeight it is out of that total instead of 100.
	// +kubebuilder:validation:Minimum=0
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits: for a duration, or with no duration until promoted.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`
	// Analysis runs an AnalysisRun and waits for its verdict.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`
	// SetCanaryScale sets the canary's pod count apart from its traffic weight.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
	// Experiment runs side versions for a while; Sluice refuses it.
	// +optional
	Experiment *RolloutExperimentStep `json:"experiment,omitempty"`
	// SetHeaderRoute sends requests matching headers to the canary; it needs a traffic router.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// SetMirrorRoute mirrors matching requests to the canary; it needs a traffic router.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
	// Plugin runs a step plugin; Sluice refuses it.
	// +optional
	Plugin *StepPlugin `json:"plugin,omitempty"`
}

// RolloutPause waits for Duration, or, with none, until promoted.
type RolloutPause struct {
	// Duration as seconds (30) or with a unit (30s, 5m, 1h).
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:Pattern=`^([0-9]+|([0-9]+(ms|s|m|h))+)$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="type(self) != int || self >= 0",message="must be seconds (30) or a duration with a unit (30s, 5m, 1h)"
	// +optional
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale sets the canary's pod count: exactly one of replicas, weight
// or matchTrafficWeight.
//
// +kubebuilder:validation:XValidation:rule="[has(self.weight), has(self.replicas), has(self.matchTrafficWeight) && self.matchTrafficWeight].exists_one(x, x)",message="setCanaryScale must set exactly one of weight, replicas or matchTrafficWeight: true"
type SetCanaryScale struct {
	// Weight is a percent of spec.replicas.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Replicas is an absolute pod count.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MatchTrafficWeight goes back to scaling by the traffic weight.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// TrafficRouting names the router that splits traffic. Sluice routes by pod
// count when none is set; a router it cannot use stops the Rollout loudly.
type TrafficRouting struct {
	// Plugins by name, e.g. argoproj-labs/gatewayAPI, with their config.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Plugins map[string]runtime.RawExtension `json:"plugins,omitempty"`
	// ManagedRoutes are the header and mirror routes the controller adds
	// (setHeaderRoute, setMirrorRoute steps) and removes again when the
	// update completes or aborts; first has the highest precedence.
	// +kubebuilder:validation:MaxItems=50
	// +listType=map
	// +listMapKey=name
	// +optional
	ManagedRoutes []ManagedRoute `json:"managedRoutes,omitempty"`
	// MaxTrafficWeight is the total weight; setWeight steps are out of it.
	// Default 100.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`

	// Upstream's built-in routers, each config decoded strictly by its
	// package under internal/router (nginx, istio, smi, traefik, alb); the
	// others (ambassador, appMesh, apisix) are refused by name.

	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Istio *runtime.RawExtension `json:"istio,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Nginx *runtime.RawExtension `json:"nginx,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	ALB *runtime.RawExtension `json:"alb,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	SMI *runtime.RawExtension `json:"smi,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Ambassador *runtime.RawExtension `json:"ambassador,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	AppMesh *runtime.RawExtension `json:"appMesh,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Traefik *runtime.RawExtension `json:"traefik,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Apisix *runtime.RawExtension `json:"apisix,omitempty"`
}

// ManagedRoute names a route the controller may add and remove.
type ManagedRoute struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// GatewayAPIPluginName is the traffic-router plugin key for Gateway API
// HTTPRoutes, as upstream's argoproj-labs/gatewayAPI plugin names it.
const GatewayAPIPluginName = "argoproj-labs/gatewayAPI"

// GatewayAPIConfig is the config under trafficRouting.plugins
// ["argoproj-labs/gatewayAPI"]: the HTTPRoute(s) whose backend weights carry
// the split between stableService and canaryService.
type GatewayAPIConfig struct {
	HTTPRoute  string               `json:"httpRoute,omitempty"`
	HTTPRoutes []GatewayAPIRouteRef `json:"httpRoutes,omitempty"`
	Namespace  string               `json:"namespace,omitempty"`
}

// GatewayAPIRouteRef names one HTTPRoute.
type GatewayAPIRouteRef struct {
	Name            string `json:"name"`
	UseHeaderRoutes bool   `json:"useHeaderRoutes,omitempty"`
}

// BlueGreenStrategy runs the new version beside the old (preview) and
// switches the active Service over at promotion.
type BlueGreenStrategy struct {
	// ActiveService receives production traffic.
	// +kubebuilder:validation:MinLength=1
	ActiveService string `json:"activeService"`
	// PreviewService reaches the new version before promotion.
	// +optional
	PreviewService string `json:"previewService,omitempty"`
	// PreviewReplicaCount runs this many new pods until promotion.
	// +kubebuilder:validation:Minimum=0
	// +optional
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`
	// AutoPromotionEnabled promotes as soon as the new version is ready. Default true.
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionSeconds promotes this long after the preview is ready.
	// +kubebuilder:validation:Minimum=0
	// +optional
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`
	// MaxUnavailable pods during the update (int or percent).
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:Pattern=`^[0-9]+%?$`
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="type(self) != int || self >= 0",message="must be a non-negative integer or a percentage like 25%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// ScaleDownDelaySeconds keeps the old version up after the switch. Default 30.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit caps old ReplicaSets kept up during the delay.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds keeps the preview up after an abort. Default 30;
	// 0 keeps it until the next update or retry, as upstream.
	// +kubebuilder:validation:Minimum=0
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// PrePromotionAnalysis must succeed before the switch.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
	// PostPromotionAnalysis runs after the switch; failure switches back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
	// PreviewMetadata is added to preview pods.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`
	// ActiveMetadata is added to active pods.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`
	// AntiAffinity keeps new pods off the nodes of the old version's pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
}

// PodTemplateMetadata is extra labels and annotations for a set of pods.
type PodTemplateMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RolloutAnalysis names the templates an AnalysisRun is built from.
type RolloutAnalysis struct {
	// +kubebuilder:validation:MinItems=1
	Templates []AnalysisTemplateRef `json:"templates"`
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// +optional
	AnalysisRunMetadata *PodTemplateMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutAnalysisBackground is analysis that runs alongside the steps.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// StartingStep is the step index at which the background run starts.
	// +kubebuilder:validation:Minimum=0
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate, or with clusterScope a
// ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// +kubebuilder:validation:MinLength=1
	TemplateName string `json:"templateName"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisRunArgument passes a value to a template argument.
type AnalysisRunArgument struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom takes an argument's value from the Rollout.
type ArgumentValueFrom struct {
	// PodTemplateHashValue is Stable or Latest: that ReplicaSet's pod hash.
	// +kubebuilder:validation:Enum=Stable;Latest
	// +optional
	PodTemplateHashValue *string `json:"podTemplateHashValue,omitempty"`
	// FieldRef reads a field of the Rollout, e.g. metadata.name.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// FieldRef is a path into an object.
type FieldRef struct {
	// +kubebuilder:validation:MinLength=1
	FieldPath string `json:"fieldPath"`
}
