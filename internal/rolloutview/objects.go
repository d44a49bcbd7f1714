package rolloutview

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// WriteObjects dumps the objects a view is built from — the Rollout and
// what it owns — as a v1 List stamped with the time they were read, so the
// view can be reproduced exactly (`get rollout -o objects`; the golden files
// of this package are captured that way).
func WriteObjects(w io.Writer, o Objects, now time.Time) error {
	list := struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Items      []any             `json:"items"`
	}{APIVersion: "v1", Kind: "List", Metadata: map[string]string{"capturedAt": now.UTC().Format(time.RFC3339)}}
	ro := o.Rollout.DeepCopy()
	ro.APIVersion, ro.Kind = v1alpha1.GroupVersion.String(), "Rollout"
	list.Items = append(list.Items, ro)
	rss := owned(o.Rollout, o.ReplicaSets)
	for _, rs := range rss {
		c := rs.DeepCopy()
		c.APIVersion, c.Kind = "apps/v1", "ReplicaSet"
		list.Items = append(list.Items, c)
	}
	pods := podsByOwner(rss, o.Pods)
	for _, rs := range rss {
		for _, p := range pods[rs.UID] {
			c := p.DeepCopy()
			c.APIVersion, c.Kind = "v1", "Pod"
			list.Items = append(list.Items, c)
		}
	}
	for _, ar := range ownedRuns(o.Rollout, rss, o.AnalysisRuns) {
		c := ar.DeepCopy()
		c.APIVersion, c.Kind = v1alpha1.GroupVersion.String(), "AnalysisRun"
		list.Items = append(list.Items, c)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	y, err := yaml.JSONToYAML(b)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// ReadObjects reads a List written by WriteObjects back, with the time it
// was captured.
func ReadObjects(data []byte) (Objects, time.Time, error) {
	var list struct {
		Metadata map[string]string `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	var o Objects
	if err := yaml.Unmarshal(data, &list); err != nil {
		return o, time.Time{}, err
	}
	at, _ := time.Parse(time.RFC3339, list.Metadata["capturedAt"])
	for _, raw := range list.Items {
		var tm struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &tm); err != nil {
			return o, at, err
		}
		var err error
		switch tm.Kind {
		case "Rollout":
			o.Rollout = &v1alpha1.Rollout{}
			err = json.Unmarshal(raw, o.Rollout)
		case "ReplicaSet":
			var rs appsv1.ReplicaSet
			err = json.Unmarshal(raw, &rs)
			o.ReplicaSets = append(o.ReplicaSets, rs)
		case "Pod":
			var p corev1.Pod
			err = json.Unmarshal(raw, &p)
			o.Pods = append(o.Pods, p)
		case "AnalysisRun":
			var ar v1alpha1.AnalysisRun
			err = json.Unmarshal(raw, &ar)
			o.AnalysisRuns = append(o.AnalysisRuns, ar)
		}
		if err != nil {
			return o, at, fmt.Errorf("decoding %s: %w", tm.Kind, err)
		}
	}
	if o.Rollout == nil {
		return o, at, fmt.Errorf("no Rollout in the list")
	}
	return o, at, nil
}
