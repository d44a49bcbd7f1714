package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EachBrokenManifest runs fn as a subtest for every file matching glob,
// with the text of the file's first line "# want: <text>" — the part of the
// error message that must name the field. It fails when fewer than min
// files match.
func EachBrokenManifest(t *testing.T, glob string, min int, fn func(t *testing.T, file, want string)) {
	t.Helper()
	files, _ := filepath.Glob(glob)
	if len(files) < min {
		t.Fatalf("want at least %d broken manifests in %s, have %d", min, glob, len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(b), "\n")
			if !strings.HasPrefix(first, "# want:") {
				t.Fatalf("%s: first line must be '# want: <what the error names>'", f)
			}
			fn(t, f, strings.TrimSpace(strings.TrimPrefix(first, "# want:")))
		})
	}
}
