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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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
		case c != nil && c.TrafficRouting != nil:
			actual = 0
			if w := ro.Status.Canary.Weights; w != nil {
				actual = w.Canary.Weight
			}
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

// owned keeps the ReplicaSets the Rollout controls.
func owned(ro *v1alpha1.Rollout, all []appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for i := range all {
		if controlledBy(&all[i].ObjectMeta, ro) {
			out = append(out, &all[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := revisionOf(out[i].Annotations), revisionOf(out[j].Annotations)
		if ri != rj {
			return ri > rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func controlledBy(m *metav1.ObjectMeta, ro *v1alpha1.Rollout) bool {
	ref := metav1.GetControllerOfNoCopy(m)
	if ref == nil || ref.Kind != "Rollout" {
		return false
	}
	if ro.UID != "" && ref.UID != "" {
		return ref.UID == ro.UID
	}
	return ref.Name == ro.Name
}

func podsByOwner(rss []*appsv1.ReplicaSet, all []corev1.Pod) map[types.UID][]*corev1.Pod {
	uids := map[types.UID]bool{}
	for _, rs := range rss {
		uids[rs.UID] = true
	}
	out := map[types.UID][]*corev1.Pod{}
	for i := range all {
		ref := metav1.GetControllerOfNoCopy(&all[i].ObjectMeta)
		if ref != nil && ref.Kind == "ReplicaSet" && uids[ref.UID] {
			out[ref.UID] = append(out[ref.UID], &all[i])
		}
	}
	for _, ps := range out {
		sort.SliceStable(ps, func(i, j int) bool {
			ti, tj := ps[i].CreationTimestamp, ps[j].CreationTimestamp
			if !ti.Equal(&tj) {
				return ti.Before(&tj)
			}
			return ps[i].Name < ps[j].Name
		})
	}
	return out
}

func revisionOf(ann map[string]string) int64 {
	n, _ := strconv.ParseInt(ann[RevisionAnnotation], 10, 64)
	return n
}

func replicaSetInfo(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) ReplicaSetInfo {
	hash := rs.Labels[PodTemplateHashLabel]
	st := ro.Status
	var tags []string
	if ro.Spec.Strategy.BlueGreen != nil {
		if hash != "" && hash == st.StableRS {
			tags = append(tags, "stable")
		}
		if hash != "" && hash == st.BlueGreen.ActiveSelector {
			tags = append(tags, "active")
		}
		if hash != "" && hash == st.BlueGreen.PreviewSelector && hash != st.BlueGreen.ActiveSelector {
			tags = append(tags, "preview")
		}
	} else {
		switch {
		case hash == "":
		case hash == st.StableRS:
			tags = append(tags, "stable")
		case hash == st.CurrentPodHash:
			tags = append(tags, "canary")
		}
	}
	ri := ReplicaSetInfo{
		Name: rs.Name, Tags: tags, Replicas: replicas(rs), Available: rs.Status.AvailableReplicas,
		Created: rs.CreationTimestamp.Time, Age: age(now, rs.CreationTimestamp),
	}
	for _, c := range rs.Spec.Template.Spec.Containers {
		ri.Images = append(ri.Images, c.Image)
	}
	switch {
	case ri.Replicas == 0:
		ri.Status, ri.Icon = "ScaledDown", IconNeutral
	case rs.Status.AvailableReplicas >= ri.Replicas:
		ri.Status, ri.Icon = "Healthy", IconOK
	default:
		ri.Status, ri.Icon = "Progressing", IconProgressing
	}
	infos := append([]string(nil), tags...)
	if d := rs.Annotations[ScaleDownDeadlineAnnotation]; d != "" {
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			if left := t.Sub(now); left > 0 {
				infos = append(infos, "delay:"+shortDuration(left))
			} else {
				infos = append(infos, "delay:passed")
			}
		}
	}
	ri.Info = strings.Join(infos, ",")
	for _, p := range pods {
		ri.Pods = append(ri.Pods, podInfo(p, now))
	}
	return ri
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func sortImages(m map[string]map[string]bool) []Image {
	order := []string{"stable", "canary", "active", "preview"}
	var out []Image
	for img, tags := range m {
		im := Image{Image: img}
		for _, t := range order {
			if tags[t] {
				im.Tags = append(im.Tags, t)
			}
		}
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out
}

func podInfo(p *corev1.Pod, now time.Time) PodInfo {
	pi := PodInfo{Name: p.Name, Created: p.CreationTimestamp.Time, Age: age(now, p.CreationTimestamp)}
	ready, total := 0, len(p.Spec.Containers)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		pi.Restarts += cs.RestartCount
	}
	pi.Ready = fmt.Sprintf("%d/%d", ready, total)
	pi.Status, pi.Icon = podStatus(p, ready == total && total > 0)
	return pi
}

// podStatus condenses a pod's state the way `kubectl get pods` does, with an
// icon: a waiting or terminated container's reason wins over the phase.
func podStatus(p *corev1.Pod, allReady bool) (string, string) {
	if p.DeletionTimestamp != nil {
		return "Terminating", IconProgressing
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return "Completed", IconOK
	case corev1.PodFailed:
		if p.Status.Reason != "" {
			return p.Status.Reason, IconBad
		}
		return "Error", IconBad
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				if w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
					return w.Reason, IconProgressing
				}
				return w.Reason, IconWarning
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				if t.Reason != "" {
					return t.Reason, IconBad
				}
				return "Error", IconBad
			}
		}
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		if allReady {
			return "Running", IconOK
		}
		return "Running", IconProgressing
	case corev1.PodPending, "":
		return "Pending", IconProgressing
	}
	return string(p.Status.Phase), IconUnknown
}

// ownedRuns keeps the AnalysisRuns of the Rollout: controlled by it, or
// without an owner but named after one of its ReplicaSets.
func ownedRuns(ro *v1alpha1.Rollout, rss []*appsv1.ReplicaSet, all []v1alpha1.AnalysisRun) []*v1alpha1.AnalysisRun {
	var out []*v1alpha1.AnalysisRun
	for i := range all {
		ar := &all[i]
		if controlledBy(&ar.ObjectMeta, ro) {
			out = append(out, ar)
			continue
		}
		if metav1.GetControllerOfNoCopy(&ar.ObjectMeta) == nil && rsByPrefix(ar.Name, rss) != nil {
			out = append(out, ar)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func rsByPrefix(name string, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range rss {
		if strings.HasPrefix(name, rs.Name+"-") {
			return rs
		}
	}
	return nil
}

// runRevision places an AnalysisRun: its revision annotation, else the
// ReplicaSet of its pod-template-hash label, else the ReplicaSet it is named after.
func runRevision(ar *v1alpha1.AnalysisRun, rss []*appsv1.ReplicaSet) int64 {
	if n := revisionOf(ar.Annotations); n > 0 {
		return n
	}
	if h := ar.Labels[PodTemplateHashLabel]; h != "" {
		for _, rs := range rss {
			if rs.Labels[PodTemplateHashLabel] == h {
				return revisionOf(rs.Annotations)
			}
		}
	}
	if rs := rsByPrefix(ar.Name, rss); rs != nil {
		return revisionOf(rs.Annotations)
	}
	return 0
}

func analysisInfo(ar *v1alpha1.AnalysisRun, now time.Time) AnalysisInfo {
	ai := AnalysisInfo{Name: ar.Name, Created: ar.CreationTimestamp.Time, Age: age(now, ar.CreationTimestamp)}
	for _, m := range ar.Status.MetricResults {
		ai.Successful += m.Successful
		ai.Failed += m.Failed
		ai.Inconclusive += m.Inconclusive
		ai.Error += m.Error
	}
	phase := ar.Status.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	ai.Status = string(phase)
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		ai.Icon = IconOK
	case v1alpha1.AnalysisPhaseFailed:
		ai.Icon = IconBad
	case v1alpha1.AnalysisPhaseError:
		ai.Icon = IconWarning
	case v1alpha1.AnalysisPhaseInconclusive:
		ai.Icon = IconUnknown
	default:
		ai.Icon = IconProgressing
	}
	return ai
}
