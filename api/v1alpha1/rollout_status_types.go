package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RolloutPhase is the one-word state ArgoCD and the CLI show.
type RolloutPhase string

// Rollout phases, with upstream's meaning.
const (
	// RolloutPhaseHealthy: fully updated and available.
	RolloutPhaseHealthy RolloutPhase = "Healthy"
	// RolloutPhaseProgressing: an update is moving.
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	// RolloutPhasePaused: waiting for a person or a timer.
	RolloutPhasePaused RolloutPhase = "Paused"
	// RolloutPhaseDegraded: aborted, invalid, or unable to make progress.
	RolloutPhaseDegraded RolloutPhase = "Degraded"
)

// PauseReason says why a Rollout is paused.
type PauseReason string

// Pause reasons, as upstream names them.
const (
	PauseReasonCanaryPauseStep         PauseReason = "CanaryPauseStep"
	PauseReasonInconclusiveAnalysis    PauseReason = "InconclusiveAnalysisRun"
	PauseReasonInconclusiveExperiment  PauseReason = "InconclusiveExperiment"
	PauseReasonBlueGreenPause          PauseReason = "BlueGreenPause"
	PauseReasonPausedByUser            PauseReason = "PausedByUser"
	PauseReasonRolloutPausedByOperator PauseReason = "RolloutPausedByOperator"
)

// PauseCondition is one reason the Rollout is paused, and since when.
type PauseCondition struct {
	Reason    PauseReason `json:"reason"`
	StartTime metav1.Time `json:"startTime"`
}

// RolloutConditionType names a condition.
type RolloutConditionType string

// Condition types, as upstream names them.
const (
	// RolloutProgressing: an update is moving, or why it can't.
	RolloutProgressing RolloutConditionType = "Progressing"
	// RolloutAvailable: at least replicas − maxUnavailable pods are available.
	RolloutAvailable RolloutConditionType = "Available"
	// RolloutHealthy: fully updated, available and not paused.
	RolloutHealthy RolloutConditionType = "Healthy"
	// RolloutCompleted: the last update finished.
	RolloutCompleted RolloutConditionType = "Completed"
	// RolloutPausedCondition: paused by a step, a person or analysis.
	RolloutPausedCondition RolloutConditionType = "Paused"
	// RolloutInvalidSpec: the spec is wrong; the message names the field.
	RolloutInvalidSpec RolloutConditionType = "InvalidSpec"
	// RolloutReplicaFailure: ReplicaSets or pods could not be created.
	RolloutReplicaFailure RolloutConditionType = "ReplicaFailure"
	// RolloutWorkloadStillServing: Sluice's warning that the Deployment named
	// by workloadRef still has pods serving next to the Rollout's own.
	RolloutWorkloadStillServing RolloutConditionType = "WorkloadStillServing"
	// RolloutStableRepaired: Sluice's note that the ReplicaSet named by
	// status.stableRS disappeared and another one that serves was recorded as
	// stable in its place. It stays until the next update completes.
	RolloutStableRepaired RolloutConditionType = "StableReplicaSetRepaired"
)

// RolloutCondition is one observed fact about the Rollout.
type RolloutCondition struct {
	Type               RolloutConditionType   `json:"type"`
	Status             corev1.ConditionStatus `json:"status"`
	LastUpdateTime     metav1.Time            `json:"lastUpdateTime"`
	LastTransitionTime metav1.Time            `json:"lastTransitionTime"`
	Reason             string                 `json:"reason"`
	Message            string                 `json:"message"`
}

// RolloutStatus is what the controller observed and did.
type RolloutStatus struct {
	// Abort stops the update and scales the canary/preview away.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PauseConditions lists why the Rollout is paused.
	// +optional
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`
	// ControllerPause is true while the controller holds the Rollout paused.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`
	// AbortedAt is when the update was aborted.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// CurrentPodHash is the pod-template hash of the newest revision.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`
	// CurrentStepHash identifies the canary steps the step index refers to.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// CurrentStepIndex is the canary step being worked on.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// ObservedGeneration is the metadata.generation last acted on. A string,
	// as upstream, so ArgoCD's health check and upstream clients decode it.
	// +optional
	ObservedGeneration string `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []RolloutCondition `json:"conditions,omitempty"`
	// +optional
	Canary CanaryStatus `json:"canary,omitempty"`
	// +optional
	BlueGreen BlueGreenStatus `json:"blueGreen,omitempty"`
	// HPAReplicas is the replica count the scale subresource reports.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`
	// ALB, ALBs and Duration are written by upstream's controller; Sluice
	// keeps them in its schema so a switch in either direction loses nothing.
	// +optional
	ALB *ALBStatus `json:"alb,omitempty"`
	// +optional
	ALBs []ALBStatus `json:"albs,omitempty"`
	// +optional
	Duration *RolloutDurationStatus `json:"duration,omitempty"`
	// Selector is the pod selector as a string, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// StableRS is the pod-template hash of the stable ReplicaSet.
	// +optional
	StableRS string `json:"stableRS,omitempty"`
	// RestartedAt is the spec.restartAt last carried out.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// PromoteFull skips the remaining steps.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Phase is Healthy, Progressing, Paused or Degraded.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Message says why, e.g. CanaryPauseStep or RolloutAborted: ...
	// +optional
	Message string `json:"message,omitempty"`
	// WorkloadObservedGeneration is the workloadRef Deployment's generation last read.
	// +optional
	WorkloadObservedGeneration string `json:"workloadObservedGeneration,omitempty"`
}

// CanaryStatus is canary-specific state.
type CanaryStatus struct {
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// Weights is the traffic split a router carries, when one is used.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// CurrentExperiment, StablePingPong and StepPluginStatuses are upstream's
	// (Sluice refuses experiments, pingPong and step plugins).
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// +optional
	StablePingPong string `json:"stablePingPong,omitempty"`
	// +optional
	StepPluginStatuses []StepPluginStatus `json:"stepPluginStatuses,omitempty"`
}

// ALBStatus is an AWS load balancer upstream's ALB router manages.
type ALBStatus struct {
	// +optional
	LoadBalancer *AwsResourceRef `json:"loadBalancer,omitempty"`
	// +optional
	CanaryTargetGroup *AwsResourceRef `json:"canaryTargetGroup,omitempty"`
	// +optional
	StableTargetGroup *AwsResourceRef `json:"stableTargetGroup,omitempty"`
	// +optional
	Ingress string `json:"ingress,omitempty"`
}

// AwsResourceRef names an AWS resource.
type AwsResourceRef struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
	// +optional
	FullName string `json:"fullName,omitempty"`
}

// RolloutDurationStatus is upstream's bookkeeping of how long an update took.
type RolloutDurationStatus struct {
	// +optional
	RolloutStartedAt *metav1.Time `json:"rolloutStartedAt,omitempty"`
	// +optional
	ManualPauseStartedAt *metav1.Time `json:"manualPauseStartedAt,omitempty"`
	// +optional
	TotalManualPauseDurationSeconds *int64 `json:"totalManualPauseDurationSeconds,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	CompletionStatus string `json:"completionStatus,omitempty"`
}

// StepPluginStatus is upstream's record of one step-plugin call.
type StepPluginStatus struct {
	Index     int32  `json:"index"`
	Name      string `json:"name"`
	Operation string `json:"operation"`
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Backoff string `json:"backoff,omitempty"`
	// +optional
	Executions int32 `json:"executions,omitempty"`
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Status *runtime.RawExtension `json:"status,omitempty"`
}

// BlueGreenStatus is blue-green-specific state.
type BlueGreenStatus struct {
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}

// RolloutAnalysisRunStatus points at an AnalysisRun and its phase.
type RolloutAnalysisRunStatus struct {
	Name   string        `json:"name"`
	Status AnalysisPhase `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
}

// TrafficWeights is the split across canary, stable and extra destinations.
type TrafficWeights struct {
	Canary WeightDestination `json:"canary"`
	Stable WeightDestination `json:"stable"`
	// +optional
	Additional []WeightDestination `json:"additional,omitempty"`
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is one backend's weight.
type WeightDestination struct {
	Weight int32 `json:"weight"`
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}
