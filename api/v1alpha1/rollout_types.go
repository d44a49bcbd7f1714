package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rollout replaces a Deployment with a progressive update: a canary that
// shifts a new version in step by step, or a blue-green that runs both side by
// side, each step gated on evidence.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ro,categories=sluice
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec"`
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
//
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}

// RolloutSpec is what the operator asks for.
//
// +kubebuilder:validation:XValidation:rule="has(self.template) != has(self.workloadRef)",message="exactly one of spec.template or spec.workloadRef must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.template) || has(self.selector)",message="spec.selector is required when spec.template is set"
// +kubebuilder:validation:XValidation:rule="!has(self.progressDeadlineSeconds) || !has(self.minReadySeconds) || self.progressDeadlineSeconds > self.minReadySeconds",message="spec.progressDeadlineSeconds must be greater than spec.minReadySeconds"
type RolloutSpec struct {
	// Replicas is the number of pods wanted when the update is done. Default 1.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Selector picks the Rollout's pods; it must match the template's labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Template is the pod template. Exactly one of template or workloadRef.
	// +optional
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`

	// WorkloadRef takes the pod template from an existing Deployment instead of
	// spec.template, so a Helm chart can stay the source of truth.
	// +optional
	WorkloadRef *WorkloadRef `json:"workloadRef,omitempty"`

	// MinReadySeconds a new pod must be ready before it counts as available.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// Strategy says how an update is shifted in: canary or blueGreen.
	Strategy RolloutStrategy `json:"strategy"`

	// RevisionHistoryLimit is how many old ReplicaSets are kept. Default 10.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// Paused holds the update where it is until set back to false.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// ProgressDeadlineSeconds is how long an update may make no progress before
	// it is reported as ProgressDeadlineExceeded. Default 600.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// ProgressDeadlineAbort aborts the update when the deadline passes.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`

	// RestartAt restarts every pod once, oldest first, after this time.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`

	// Analysis limits how many finished AnalysisRuns are kept.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`

	// RollbackWindow lets a rollback to one of the last N revisions skip the steps.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`
}

// Scale-down policies for the Deployment named by workloadRef.
const (
	ScaleDownNever         = "never"
	ScaleDownOnSuccess     = "onsuccess"
	ScaleDownProgressively = "progressively"
)

// WorkloadRef names the Deployment whose pod template the Rollout runs.
type WorkloadRef struct {
	// APIVersion of the referenced workload, apps/v1.
	// +kubebuilder:validation:Enum=apps/v1
	APIVersion string `json:"apiVersion"`
	// Kind of the referenced workload. Sluice supports Deployment.
	// +kubebuilder:validation:Enum=Deployment
	Kind string `json:"kind"`
	// Name of the Deployment, in the Rollout's namespace.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// ScaleDown says when the Deployment is scaled to zero: never (default, as
	// upstream; Sluice warns while it still serves), onsuccess (once the Rollout
	// is healthy), or progressively (in step with the Rollout's scale-up).
	// +kubebuilder:validation:Enum=never;onsuccess;progressively
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// AnalysisRunStrategy bounds how many finished AnalysisRuns are kept.
type AnalysisRunStrategy struct {
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +optional
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// RollbackWindowSpec is the number of recent revisions a rollback may jump to
// without walking the steps.
type RollbackWindowSpec struct {
	// +kubebuilder:validation:Minimum=0
	Revisions int32 `json:"revisions,omitempty"`
}

func init() {
	SchemeBuilder.Register(&Rollout{}, &RolloutList{})
}
