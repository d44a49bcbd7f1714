package rolloutview

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// RenderOptions tune the text.
type RenderOptions struct {
	// Color draws status icons in ANSI colors.
	Color bool
}

// ANSI colors of the status icons.
const (
	colorReset  = "\x1b[0m"
	colorGreen  = "\x1b[32m"
	colorRed    = "\x1b[31m"
	colorYellow = "\x1b[33m"
	colorCyan   = "\x1b[36m"
	colorGray   = "\x1b[90m"
)

func iconColor(icon string) string {
	switch icon {
	case IconOK:
		return colorGreen
	case IconBad:
		return colorRed
	case IconWarning, IconUnknown, IconPaused:
		return colorYellow
	case IconProgressing:
		return colorCyan
	case IconNeutral:
		return colorGray
	}
	return ""
}

// headerFormat pads labels to the column upstream's plugin uses.
const headerFormat = "%-17s%s\n"

// Render writes the header block, a blank line, and the tree.
func Render(w io.Writer, info *Info, opts RenderOptions) error {
	var b strings.Builder
	RenderHeader(&b, info, opts)
	b.WriteString("\n")
	RenderTree(&b, info, opts)
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderHeader writes the header block: name, status, strategy, images, replicas.
func RenderHeader(b *strings.Builder, info *Info, opts RenderOptions) {
	line := func(label, value string) { fmt.Fprintf(b, headerFormat, label, value) }
	line("Name:", info.Name)
	line("Namespace:", info.Namespace)
	line("Status:", paint(opts, info.Icon, info.Icon+" "+info.Status))
	if info.Message != "" {
		line("Message:", info.Message)
	}
	for i, w := range info.Why {
		label := ""
		if i == 0 {
			label = "Why:"
		}
		if opts.Color {
			w = colorYellow + w + colorReset
		}
		line(label, w)
	}
	line("Strategy:", info.Strategy)
	if info.Step != "" {
		line("  Step:", info.Step)
	}
	if info.SetWeight != "" {
		line("  SetWeight:", info.SetWeight)
	}
	if info.ActualWeight != "" {
		line("  ActualWeight:", info.ActualWeight)
	}
	for i, im := range info.Images {
		label := ""
		if i == 0 {
			label = "Images:"
		}
		v := im.Image
		if len(im.Tags) > 0 {
			v += " (" + strings.Join(im.Tags, ", ") + ")"
		}
		line(label, v)
	}
	b.WriteString("Replicas:\n")
	line("  Desired:", fmt.Sprint(info.Replicas.Desired))
	line("  Current:", fmt.Sprint(info.Replicas.Current))
	line("  Updated:", fmt.Sprint(info.Replicas.Updated))
	line("  Ready:", fmt.Sprint(info.Replicas.Ready))
	line("  Available:", fmt.Sprint(info.Replicas.Available))
}

// cell is one table cell: its text, and the color it is drawn in.
type cell struct {
	text, color string
}

// RenderTree writes the NAME KIND STATUS AGE INFO table: the Rollout, its
// revisions newest first, each with its ReplicaSets (and their pods) and
// AnalysisRuns.
func RenderTree(b *strings.Builder, info *Info, opts RenderOptions) {
	rows := [][]cell{
		{{text: "NAME"}, {text: "KIND"}, {text: "STATUS"}, {text: "AGE"}, {text: "INFO"}},
		{{text: IconRollout + " " + info.Name}, {text: "Rollout"}, status(info.Icon, info.Status), {text: info.Age}, {}},
	}
	for ri, rev := range info.Revisions {
		lastRev := ri == len(info.Revisions)-1
		p0 := branch(lastRev)
		rows = append(rows, []cell{{text: p0 + IconRevision + " revision:" + fmt.Sprint(rev.Number)}, {}, {}, {}, {}})
		indent1 := trunk(lastRev)
		n := len(rev.ReplicaSets) + len(rev.AnalysisRuns)
		k := 0
		for _, rs := range rev.ReplicaSets {
			k++
			last := k == n
			rows = append(rows, []cell{
				{text: indent1 + branch(last) + IconReplicaSet + " " + rs.Name}, {text: "ReplicaSet"},
				status(rs.Icon, rs.Status), {text: rs.Age}, {text: rs.Info},
			})
			indent2 := indent1 + trunk(last)
			for pi, p := range rs.Pods {
				info := "ready:" + p.Ready
				if p.Restarts > 0 {
					info += fmt.Sprintf(",restarts:%d", p.Restarts)
				}
				rows = append(rows, []cell{
					{text: indent2 + branch(pi == len(rs.Pods)-1) + IconPod + " " + p.Name}, {text: "Pod"},
					status(p.Icon, p.Status), {text: p.Age}, {text: info},
				})
			}
		}
		for _, ar := range rev.AnalysisRuns {
			k++
			rows = append(rows, []cell{
				{text: indent1 + branch(k == n) + IconAnalysisRun + " " + ar.Name}, {text: "AnalysisRun"},
				status(ar.Icon, ar.Status), {text: ar.Age}, {text: ar.Counts()},
			})
		}
	}
	writeTable(b, rows, opts)
}

func branch(last bool) string {
	if last {
		return "└──"
	}
	return "├──"
}

func trunk(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}

func status(icon, text string) cell {
	if text == "" {
		return cell{}
	}
	return cell{text: icon + " " + text, color: iconColor(icon)}
}

// writeTable pads every column but the last to its widest cell plus two
// spaces, counting runes (each icon is one column wide), and trims trailing
// blanks. Colors are applied after padding so they never shift a column.
func writeTable(b *strings.Builder, rows [][]cell, opts RenderOptions) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		pending := 0 // spaces owed before the next non-empty cell
		for i, c := range r {
			if c.text != "" {
				line.WriteString(strings.Repeat(" ", pending))
				pending = 0
				line.WriteString(paintCell(opts, c))
			}
			if i < len(r)-1 {
				pending += widths[i] + 2 - utf8.RuneCountInString(c.text)
			}
		}
		b.WriteString(line.String())
		b.WriteString("\n")
	}
}

func paintCell(opts RenderOptions, c cell) string {
	if !opts.Color || c.color == "" {
		return c.text
	}
	return c.color + c.text + colorReset
}

func paint(opts RenderOptions, icon, text string) string {
	if col := iconColor(icon); opts.Color && col != "" {
		return col + text + colorReset
	}
	return text
}
