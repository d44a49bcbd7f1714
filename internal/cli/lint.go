package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/router/routers"
	"github.com/sluice-dev/sluice/internal/validation"
)

func newLintCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "lint -f FILE|DIR|- [-f ...]",
		Short: "Check Rollout and AnalysisTemplate manifests offline, with the controller's rules",
		Long: `Check manifests without a cluster: every Rollout, AnalysisTemplate and
ClusterAnalysisTemplate in the files (multi-document YAML or JSON; a directory
is read recursively; - is standard input) is decoded strictly — an unknown or
misspelt field is an error — and validated with the rules the Sluice
controller applies, plus those of the CRD schema. Each problem names the file,
the line its document starts on, the object and the field.

Other kinds (Deployments, Services, ...) are skipped. Warnings (a traffic
router the Sluice controller cannot use, a workloadRef Deployment left
serving) do not fail the check. The exit code is 1 when there is a problem.`,
		Example: examples(`
  SLUICE lint -f examples/
  SLUICE lint -f rollout.yaml -f analysis.yaml
  helm template ./chart | SLUICE lint -f -`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("lint needs at least one -f FILE, DIR or - (standard input)")
			}
			var r lintReport
			for _, f := range files {
				if err := r.path(f, cmd.InOrStdin()); err != nil {
					return err
				}
			}
			return r.print(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a manifest file, a directory of them, or - for standard input (repeatable)")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// lintReport gathers what lint found.
type lintReport struct {
	checked  int
	bad      int
	skipped  map[string]int
	problems []string
	warnings []string
}

func (r *lintReport) path(path string, stdin io.Reader) error {
	if path == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		r.data("<stdin>", data)
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r.data(path, data)
		return nil
	}
	var paths []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				paths = append(paths, p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r.data(p, data)
	}
	return nil
}

// separatorRE is a YAML document separator line.
var separatorRE = regexp.MustCompile(`^---(\s.*)?$`)

// document is one YAML document and the line it starts on.
type document struct {
	line int
	text []byte
}

// documents splits a multi-document YAML file, remembering where each starts.
func documents(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, n := 0, 0
	flush := func() {
		if start > 0 {
			docs = append(docs, document{line: start, text: append([]byte(nil), cur.Bytes()...)})
		}
		cur.Reset()
		start = 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		n++
		line := sc.Text()
		if separatorRE.MatchString(line) {
			flush()
			continue
		}
		if t := strings.TrimSpace(line); start == 0 && t != "" && !strings.HasPrefix(t, "#") {
			start = n
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func (r *lintReport) data(file string, data []byte) {
	for _, d := range documents(data) {
		where := fmt.Sprintf("%s:%d", file, d.line)
		js, err := yaml.YAMLToJSON(d.text)
		if err != nil {
			r.checked++
			r.bad++
			r.problems = append(r.problems, fmt.Sprintf("%s: not valid YAML: %v", where, err))
			continue
		}
		r.object(where, js)
	}
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func (r *lintReport) object(where string, js []byte) {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return
	}
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		r.checked++
		r.bad++
		r.problems = append(r.problems, fmt.Sprintf("%s: not a Kubernetes object: %v", where, err))
		return
	}
	if tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
		for i, item := range tm.Items {
			r.object(fmt.Sprintf("%s (items[%d])", where, i), item)
		}
		return
	}
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	if !strings.Contains(tm.APIVersion, "/") {
		group = ""
	}
	if group != v1alpha1.GroupVersion.Group {
		r.skip(tm.Kind)
		return
	}
	if tm.APIVersion != v1alpha1.GroupVersion.String() {
		r.checked++
		r.bad++
		r.problems = append(r.problems, fmt.Sprintf("%s: %s %q: apiVersion: Unsupported value: %q: supported values: %q",
			where, tm.Kind, tm.Metadata.Name, tm.APIVersion, v1alpha1.GroupVersion.String()))
		return
	}
	var errs field.ErrorList
	var bad, warns []string
	switch tm.Kind {
	case "Rollout":
		var ro v1alpha1.Rollout
		if bad = decodeStrict(js, &ro); len(bad) == 0 {
			errs = append(validation.Rollout(&ro), validation.UnimplementedRolloutFields(&ro)...)
			warns = rolloutWarnings(&ro)
		}
	case "AnalysisTemplate":
		var at v1alpha1.AnalysisTemplate
		if bad = decodeStrict(js, &at); len(bad) == 0 {
			errs = validation.AnalysisTemplate(&at.Spec)
		}
	case "ClusterAnalysisTemplate":
		var at v1alpha1.ClusterAnalysisTemplate
		if bad = decodeStrict(js, &at); len(bad) == 0 {
			errs = validation.AnalysisTemplate(&at.Spec)
		}
	default:
		r.skip(tm.Kind)
		return
	}
	r.checked++
	obj := fmt.Sprintf("%s %q", tm.Kind, tm.Metadata.Name)
	if tm.Metadata.Name == "" && tm.Kind != "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	for _, e := range errs {
		bad = append(bad, e.Error())
	}
	if len(bad) > 0 {
		r.bad++
	}
	for _, e := range bad {
		r.problems = append(r.problems, fmt.Sprintf("%s: %s: %s", where, obj, e))
	}
	for _, w := range warns {
		r.warnings = append(r.warnings, fmt.Sprintf("%s: %s: warning: %s", where, obj, w))
	}
}

func (r *lintReport) skip(kind string) {
	if r.skipped == nil {
		r.skipped = map[string]int{}
	}
	if kind == "" {
		kind = "(no kind)"
	}
	r.skipped[kind]++
}

// decodeStrict decodes an object and reports, each with its path, unknown
// or repeated fields and values of the wrong type.
func decodeStrict(js []byte, into any) []string {
	strict, err := kjson.UnmarshalStrict(js, into)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return []string{fmt.Sprintf("%s: wrong type: a %s where %s is expected", te.Field, te.Value, te.Type)}
		}
		return []string{err.Error()}
	}
	var out []string
	for _, e := range strict {
		var fe kjson.FieldError
		switch {
		case errors.As(e, &fe) && strings.HasPrefix(e.Error(), "unknown field"):
			out = append(out, fe.FieldPath()+": unknown field (misspelt, or not in the argoproj.io/v1alpha1 API)")
		case errors.As(e, &fe):
			out = append(out, fe.FieldPath()+": "+e.Error())
		default:
			out = append(out, e.Error())
		}
	}
	return out
}

// rolloutWarnings are things that are valid but probably not what was meant.
func rolloutWarnings(ro *v1alpha1.Rollout) []string {
	var w []string
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil {
		if names := routers.Unavailable(c.TrafficRouting); len(names) > 0 {
			w = append(w, fmt.Sprintf("spec.strategy.canary.trafficRouting: traffic router %s is not one the Sluice controller carries "+
				"(it carries %s); it stops this Rollout (TrafficRouterUnavailable) without touching a ReplicaSet. "+
				"Use one of those, or remove trafficRouting for a replica-count canary "+
				"(an Argo Rollouts controller with the router configured can run it as is)",
				strings.Join(names, ", "), strings.Join(routers.Carried(), ", ")))
		}
	}
	if ref := ro.Spec.WorkloadRef; ref != nil && (ref.ScaleDown == "" || ref.ScaleDown == v1alpha1.ScaleDownNever) {
		is := `"never"`
		if ref.ScaleDown == "" {
			is = "unset (never)"
		}
		w = append(w, fmt.Sprintf("spec.workloadRef.scaleDown is %s: Deployment %q keeps serving its pods next to the "+
			"Rollout's; set scaleDown: onsuccess (or progressively) to hand serving over to the Rollout", is, ref.Name))
	}
	return w
}

func (r *lintReport) print(out io.Writer) error {
	for _, p := range r.problems {
		fmt.Fprintln(out, p)
	}
	for _, w := range r.warnings {
		fmt.Fprintln(out, w)
	}
	var kinds []string
	for k, n := range r.skipped {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	skipped := ""
	if len(kinds) > 0 {
		skipped = fmt.Sprintf("; skipped %s", strings.Join(kinds, ", "))
	}
	if len(r.problems) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d problem(s) in %d of %d object(s) checked%s",
			len(r.problems), r.bad, r.checked, skipped)}
	}
	if r.checked == 0 {
		_, err := fmt.Fprintf(out, "no Rollout or AnalysisTemplate found%s\n", skipped)
		return err
	}
	_, err := fmt.Fprintf(out, "%d object(s) checked, no problems%s\n", r.checked, skipped)
	return err
}
