package rolloutview

import (
	"fmt"
	"io"
	"strings"
)

// RenderList writes one line per Rollout: name, strategy, status, step,
// set/actual weight, ready/desired, updated, available and age. Blue-green
// Rollouts have no step or weight ("-").
func RenderList(w io.Writer, infos []*Info, allNamespaces bool) error {
	head := []string{"NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "ACTUAL-WEIGHT", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
	if allNamespaces {
		head = append([]string{"NAMESPACE"}, head...)
	}
	rows := [][]cell{cells(head...)}
	for _, in := range infos {
		r := []string{in.Name, in.Strategy, in.Status, dash(in.Step), dash(in.SetWeight), dash(in.ActualWeight),
			fmt.Sprintf("%d/%d", in.Replicas.Ready, in.Replicas.Desired), fmt.Sprint(in.Replicas.Updated),
			fmt.Sprint(in.Replicas.Available), in.Age}
		if allNamespaces {
			r = append([]string{in.Namespace}, r...)
		}
		rows = append(rows, cells(r...))
	}
	var b strings.Builder
	writeTable(&b, rows, RenderOptions{})
	_, err := io.WriteString(w, b.String())
	return err
}

func cells(s ...string) []cell {
	out := make([]cell, len(s))
	for i, t := range s {
		out[i] = cell{text: t}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
