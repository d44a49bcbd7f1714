package rolloutview

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the captured objects")

// Every testdata/*.objects.yaml was captured on the sandbox with
// `sluice get rollout NAME -o objects` (see each file's first lines for how
// the state was reached). Rendering it at its capture time must give its
// .golden file byte for byte.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.objects.yaml")
	if len(files) < 10 {
		t.Fatalf("want the captured cases (healthy, paused 1/4 and 3/4, degraded, blue-green, loud failures); have %d", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".objects.yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, f, false)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/rolloutview -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendering:\n--- want\n%s\n--- got\n%s", golden, want, got)
			}
		})
	}
}

// Colors never move a column: the colored rendering with its escape
// sequences removed is the plain one.
func TestColorKeepsLayout(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.objects.yaml")
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, f := range files {
		plain, colored := render(t, f, false), render(t, f, true)
		if colored == plain {
			t.Errorf("%s: no color in the colored rendering", f)
		}
		if stripped := ansi.ReplaceAllString(colored, ""); stripped != plain {
			t.Errorf("%s: colored layout differs:\n%s\nvs\n%s", f, stripped, plain)
		}
	}
}

func render(t *testing.T, file string, color bool) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, at, err := ReadObjects(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var b bytes.Buffer
	if err := Render(&b, Build(objs, Options{Now: at}), RenderOptions{Color: color}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The seeds' runbooks paste `kubectl argo rollouts get rollout` output at each
// step (testdata/seed/*.txt, copied from the seed documents). Rendered from
// objects captured in the same state, Sluice's output must read the same,
// line for line: every header line the seed shows appears, in order, and the
// tree has exactly the seed's rows. The seeds' captures were edited by their
// author — hashes as placeholders, ages dropped, pods summarised as
// "[5 pods ...]", "← ..." remarks — so both sides are normalised the same
// way first: whitespace runs, hashes, revision numbers, ages and image tags
// are made generic and pod rows are left out. A seed line ending in "…" is
// a prefix: the rest of it is a controller's message, not layout.
func TestSeedLayouts(t *testing.T) {
	cases := map[string]string{
		"healthy":            "canary-healthy",
		"paused-1of4":        "canary-paused-1of4",
		"paused-3of4":        "canary-paused-3of4",
		"degraded-aborted":   "canary-degraded-analysis-error",
		"stuck-not-observed": "loud-not-observed",
	}
	for seed, capture := range cases {
		t.Run(seed, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "seed", seed+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			var seedLines []string
			for _, l := range strings.Split(string(raw), "\n") {
				if strings.HasPrefix(l, "#!") { // provenance comments of the testdata file
					continue
				}
				if n := normalize(l); n != "" {
					seedLines = append(seedLines, n)
				}
			}
			var ours []string
			for _, l := range strings.Split(render(t, filepath.Join("testdata", capture+".objects.yaml"), false), "\n") {
				if n := normalize(l); n != "" {
					ours = append(ours, n)
				}
			}
			seedHead, seedTree := split(seedLines)
			ourHead, ourTree := split(ours)
			// Header: the seed's lines, in order, within ours.
			i := 0
			for _, s := range seedHead {
				for i < len(ourHead) && !matches(s, ourHead[i]) {
					i++
				}
				if i == len(ourHead) {
					t.Fatalf("seed header line %q not found (in order) in:\n%s", s, strings.Join(ourHead, "\n"))
				}
				i++
			}
			// Tree: the same rows.
			if len(seedTree) > 0 && strings.Join(seedTree, "\n") != strings.Join(ourTree, "\n") {
				t.Fatalf("tree differs from the seed's:\n--- seed\n%s\n--- ours\n%s", strings.Join(seedTree, "\n"), strings.Join(ourTree, "\n"))
			}
		})
	}
}

var (
	spaceRE    = regexp.MustCompile(`\s+`)
	hashRE     = regexp.MustCompile(`(litellm|sympozium-apiserver)-(<[^>]*>|[a-z0-9]{8,10}\b)`)
	revisionRE = regexp.MustCompile(`revision:\S+`)
	ageRE      = regexp.MustCompile(`^[0-9]+[smhdy]([0-9]+[smh])?$`)
	tagRE      = regexp.MustCompile(`:main-v[0-9.]+-stable\b`)
)

// normalize makes a line of output comparable with a seed's edited capture.
func normalize(l string) string {
	if i := strings.Index(l, "←"); i >= 0 {
		l = l[:i]
	}
	l = strings.TrimSpace(spaceRE.ReplaceAllString(l, " "))
	if strings.Contains(l, "□") || strings.Contains(l, "──[") { // pods: listed by us, summarised by the seeds
		return ""
	}
	l = hashRE.ReplaceAllString(l, "$1-HASH")
	l = revisionRE.ReplaceAllString(l, "revision:R")
	l = tagRE.ReplaceAllString(l, ":TAG")
	fields := strings.Fields(l)
	out := fields[:0]
	for _, f := range fields {
		if !ageRE.MatchString(f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// split cuts normalised output at the table header.
func split(lines []string) (head, tree []string) {
	for i, l := range lines {
		if strings.HasPrefix(l, "NAME KIND STATUS") {
			return lines[:i], lines[i+1:]
		}
	}
	return lines, nil
}

func matches(seed, ours string) bool {
	if p, ok := strings.CutSuffix(seed, "…"); ok {
		return strings.HasPrefix(ours, strings.TrimSpace(p))
	}
	return seed == ours
}
