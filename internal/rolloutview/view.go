// Package rolloutview turns a Rollout and the objects around it (its
// ReplicaSets, their Pods, its AnalysisRuns) into what `sluice get rollout`
// prints: the header block (status, step, weights, images, replica counts)
// and the tree of revisions. It is pure — objects in, text out — so every
// layout is checked by golden files, and it reads only fields the Argo
// Rollouts API defines, so it renders Rollouts of an upstream controller too.
//
// Beyond upstream's layout it adds a `Why:` line when the Rollout carries a
// loud-failure condition (an unusable traffic router, a missing workloadRef
// Deployment, a Deployment still serving next to the Rollout, an analysis
// waiting for a person, ...): what is wrong and the command or field that
// fixes it.
package rolloutview

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Icons, as the upstream plugin draws them, so runbooks read the same.
const (
	IconOK          = "✔"
	IconBad         = "✖"
	IconPaused      = "॥"
	IconProgressing = "◌"
	IconWarning     = "⚠"
	IconNeutral     = "•"
	IconUnknown     = "?"

	IconRollout     = "⟳"
	IconRevision    = "#"
	IconReplicaSet  = "⧉"
	IconPod         = "□"
	IconAnalysisRun = "α"
)

// Labels and annotations of the Argo Rollouts API the view reads.
const (
	PodTemplateHashLabel        = "rollouts-pod-template-hash"
	RevisionAnnotation          = "rollout.argoproj.io/revision"
	ScaleDownDeadlineAnnotation = "scale-down-deadline"
)

// NotObservedMessage is shown while the controller has not yet acted on the
// Rollout's current spec (status.observedGeneration behind metadata.generation).
const NotObservedMessage = "waiting for rollout spec update to be observed"

// Objects is everything a view is built from. ReplicaSets, Pods and
// AnalysisRuns may hold unrelated objects of the namespace: Build keeps those
// owned by the Rollout (and, for Pods, by its ReplicaSets).
type Objects struct {
	Rollout      *v1alpha1.Rollout
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	AnalysisRuns []v1alpha1.AnalysisRun
}

// Options tune Build.
type Options struct {
	// Now is the clock ages are measured against.
	Now time.Time
	// Command is how the CLI is invoked, for the commands Why lines suggest;
	// default "kubectl sluice".
	Command string
}

// Info is the view of one Rollout; -o json and -o yaml print it as is.
type Info struct {
	Name         string     `json:"name"`
	Namespace    string     `json:"namespace"`
	Status       string     `json:"status"`
	Icon         string     `json:"icon"`
	Message      string     `json:"message,omitempty"`
	Why          []string   `json:"why,omitempty"`
	Strategy     string     `json:"strategy"`
	Step         string     `json:"step,omitempty"`
	SetWeight    string     `json:"setWeight,omitempty"`
	ActualWeight string     `json:"actualWeight,omitempty"`
	Images       []Image    `json:"images,omitempty"`
	Replicas     Replicas   `json:"replicas"`
	Created      time.Time  `json:"created"`
	Age          string     `json:"age"`
	Revisions    []Revision `json:"revisions,omitempty"`
}

// Image is one container image and the roles of the ReplicaSets running it.
type Image struct {
	Image string   `json:"image"`
	Tags  []string `json:"tags,omitempty"`
}

// Replicas are the Rollout's pod counts.
type Replicas struct {
	Desired   int32 `json:"desired"`
	Current   int32 `json:"current"`
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
}

// Revision groups the ReplicaSets and AnalysisRuns of one revision.
type Revision struct {
	Number       int64            `json:"number"`
	ReplicaSets  []ReplicaSetInfo `json:"replicaSets,omitempty"`
	AnalysisRuns []AnalysisInfo   `json:"analysisRuns,omitempty"`
}

// ReplicaSetInfo is one ReplicaSet row and its pods.
type ReplicaSetInfo struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Icon      string    `json:"icon"`
	Tags      []string  `json:"tags,omitempty"`
	Info      string    `json:"info,omitempty"`
	Replicas  int32     `json:"replicas"`
	Available int32     `json:"available"`
	Images    []string  `json:"images,omitempty"`
	Created   time.Time `json:"created"`
	Age       string    `json:"age"`
	Pods      []PodInfo `json:"pods,omitempty"`
}

// PodInfo is one Pod row.
type PodInfo struct {
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	Icon     string    `json:"icon"`
	Ready    string    `json:"ready"`
	Restarts int32     `json:"restarts,omitempty"`
	Created  time.Time `json:"created"`
	Age      string    `json:"age"`
}

// AnalysisInfo is one AnalysisRun row with its measurement counts.
type AnalysisInfo struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	Icon         string    `json:"icon"`
	Successful   int32     `json:"successful,omitempty"`
	Failed       int32     `json:"failed,omitempty"`
	Inconclusive int32     `json:"inconclusive,omitempty"`
	Error        int32     `json:"error,omitempty"`
	Created      time.Time `json:"created"`
	Age          string    `json:"age"`
}

// Counts is the INFO column of an AnalysisRun row: ✔ 1,✖ 2,? 1,⚠ 5.
func (a AnalysisInfo) Counts() string {
	var parts []string
	for _, c := range []struct {
		icon string
		n    int32
	}{{IconOK, a.Successful}, {IconBad, a.Failed}, {IconUnknown, a.Inconclusive}, {IconWarning, a.Error}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.icon, c.n))
		}
	}
	return strings.Join(parts, ",")
}

// Phase is the phase and message a person should see. As upstream's plugin
// does, a status written for an older generation of the spec is not trusted:
// until the controller has observed the current spec the Rollout is
// Progressing, "waiting for rollout spec update to be observed".
func Phase(ro *v1alpha1.Rollout) (v1alpha1.RolloutPhase, string) {
	if !Observed(ro) {
		return v1alpha1.RolloutPhaseProgressing, NotObservedMessage
	}
	if ro.Status.Phase == "" {
		return v1alpha1.RolloutPhaseProgressing, ro.Status.Message
	}
	return ro.Status.Phase, ro.Status.Message
}

// Observed reports whether the controller has acted on the current spec.
func Observed(ro *v1alpha1.Rollout) bool {
	og := ro.Status.ObservedGeneration
	if _, err := strconv.ParseInt(og, 10, 64); err != nil && og != "" {
		return true // very old controllers wrote a hash here; trust the phase
	}
	return og == strconv.FormatInt(ro.Generation, 10)
}

// PhaseIcon is the icon drawn next to a Rollout phase.
func PhaseIcon(p v1alpha1.RolloutPhase) string {
	switch p {
	case v1alpha1.RolloutPhaseHealthy:
		return IconOK
	case v1alpha1.RolloutPhaseDegraded:
		return IconBad
	case v1alpha1.RolloutPhasePaused:
		return IconPaused
	case v1alpha1.RolloutPhaseProgressing:
		return IconProgressing
	}
	return IconUnknown
}

// Build computes the view of o.Rollout.
func Build(o Objects, opts Options) *Info {
	ro := o.Rollout
	if opts.Command == "" {
		opts.Command = "kubectl sluice"
	}
	phase, msg := Phase(ro)
	info := &Info{
		Name: ro.Name, Namespace: ro.Namespace,
		Status: string(phase), Icon: PhaseIcon(phase), Message: msg,
		Created: ro.CreationTimestamp.Time, Age: age(opts.Now, ro.CreationTimestamp),
		Replicas: Replicas{
			Desired: desired(ro), Current: ro.Status.Replicas, Updated: ro.Status.UpdatedReplicas,
			Ready: ro.Status.ReadyReplicas, Available: ro.Status.AvailableReplicas,
		},
	}

	rss := owned(ro, o.ReplicaSets)
	pods := podsByOwner(rss, o.Pods)
	revs := map[int64]*Revision{}
	rev := func(n int64) *Revision {
		if revs[n] == nil {
			revs[n] = &Revision{Number: n}
		}
		return revs[n]
	}
	var canaryAvailable int32
	haveCanary := false
	images := map[string]map[string]bool{}
	for _, rs := range rss {
		ri := replicaSetInfo(ro, rs, pods[rs.UID], opts.Now)
		if hasTag(ri.Tags, "canary") {
			haveCanary = true
			canaryAvailable += rs.Status.AvailableReplicas
		}
		if len(ri.Tags) > 0 && (replicas(rs) > 0 || rs.Status.Replicas > 0) {
			for _, img := range ri.Images {
				if images[img] == nil {
					images[img] = map[string]bool{}
				}
				for _, t := range ri.Tags {
					images[img][t] = true
				}
			}
		}
		r := rev(revisionOf(rs.Annotations))
		r.ReplicaSets = append(r.ReplicaSets, ri)
	}
	for _, ar := range ownedRuns(ro, rss, o.AnalysisRuns) {
		r := rev(runRevision(ar, rss))
		r.AnalysisRuns = append(r.AnalysisRuns, analysisInfo(ar, opts.Now))
	}
	for _, r := range revs {
		info.Revisions = append(info.Revisions, *r)
	}
	sort.Slice(info.Revisions, func(i, j int) bool { return info.Revisions[i].Number > info.Revisions[j].Number })
	info.Images = sortImages(images)

	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		info.Strategy = "BlueGreen"
	default:
		info.Strategy = "Canary"
		c := ro.Spec.Strategy.Canary
		var steps []v1alpha1.CanaryStep
		if c != nil {
			steps = c.Steps
		}
		idx := int32(0)
		if ro.Status.CurrentStepIndex != nil {
			idx = *ro.Status.CurrentStepIndex
		}
		if len(steps) > 0 {
			info.Step = fmt.Sprintf("%d/%d", idx, len(steps))
		}
		set := setWeight(ro.Status.Abort, steps, idx)
		info.SetWeight = strconv.Itoa(int(set))
		actual := set
		switch {
		case int(idx) >= len(steps):
			actual = 100 // past the last step, as upstream reports it (routed or not)
		case c != nil && c.TrafficRouting != nil && ro.Status.AvailableReplicas > 0:
			if w := ro.Status.Canary.Weights; w != nil {
				actual = w.Canary.Weight
			}
		case c != nil && c.TrafficRouting != nil:
			actual = 0
		case haveCanary && ro.Status.AvailableReplicas > 0:
			actual = min(100, canaryAvailable*100/ro.Status.AvailableReplicas)
		case haveCanary:
			actual = 0
		}
		info.ActualWeight = strconv.Itoa(int(actual))
	}
	info.Why = why(ro, o, opts)
	return info
}

// setWeight is the weight the current step works towards, as upstream
// reports it: 0 once aborted, 100 past the last step, else the last
// setWeight at or before the current step.
func setWeight(aborted bool, steps []v1alpha1.CanaryStep, idx int32) int32 {
	if aborted {
		return 0
	}
	if int(idx) >= len(steps) {
		return 100
	}
	for i := int(idx); i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

func desired(ro *v1alpha1.Rollout) int32 {
	if ro.Spec.Replicas == nil {
		return 1
	}
	return *ro.Spec.Replicas
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
