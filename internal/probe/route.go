// Package probe sends open-loop synthetic traffic to an HTTP service,
// rotating through routes (model names for an OpenAI-compatible gateway, or
// generic method/path/body), and reports per route: status classes,
// transport errors, success rate and latency percentiles measured from each
// request's scheduled send time (no coordinated omission). Scheduling,
// statistics and rendering are pure; run.go does the I/O.
package probe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// ChatPath is the OpenAI-compatible chat completions path.
const ChatPath = "/v1/chat/completions"

// Route is one kind of request to rotate through.
type Route struct {
	Name   string `json:"name,omitempty"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Body   string `json:"body,omitempty"`
	// Model, for an OpenAI-compatible gateway: a POST to ChatPath with a
	// small chat body for this model (Method, Path and Body then default
	// from it).
	Model   string            `json:"model,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Rate is this route's own rate in requests per second (per-route mode).
	Rate float64 `json:"rate,omitempty"`
}

// File is the YAML shape of --routes-file.
type File struct {
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Prompt and MaxTokens shape the bodies of model routes.
	Prompt    string  `json:"prompt,omitempty"`
	MaxTokens int     `json:"maxTokens,omitempty"`
	Routes    []Route `json:"routes"`
}

// LoadFile reads a routes file.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return ParseFile(data)
}

// ParseFile parses routes-file YAML; unknown keys are errors.
func ParseFile(data []byte) (File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return File{}, fmt.Errorf("routes file: %w", err)
	}
	return f, nil
}

// DefaultPrompt is the user message of model routes: tiny and cheap.
const DefaultPrompt = "Reply with the single word: ok"

// ChatBody is the JSON body sent for a model route.
func ChatBody(model, prompt string, maxTokens int) string {
	if prompt == "" {
		prompt = DefaultPrompt
	}
	if maxTokens <= 0 {
		maxTokens = 5
	}
	b, _ := json.Marshal(map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": maxTokens,
	})
	return string(b)
}

// ParseRoute parses the --route flag syntax: [NAME=]METHOD PATH [BODY].
// The body is the rest of the string after the path.
func ParseRoute(s string) (Route, error) {
	s = strings.TrimSpace(s)
	var r Route
	first, rest, _ := strings.Cut(s, " ")
	if name, method, ok := strings.Cut(first, "="); ok {
		r.Name, first = name, method
	}
	r.Method = strings.ToUpper(first)
	rest = strings.TrimLeft(rest, " ")
	path, body, _ := strings.Cut(rest, " ")
	r.Path = path
	r.Body = strings.TrimSpace(body)
	if r.Method == "" || r.Path == "" {
		return Route{}, fmt.Errorf("route %q: want [NAME=]METHOD PATH [BODY], e.g. 'health=GET /health/liveliness'", s)
	}
	return r, nil
}

// Normalize fills a route's defaults (model routes, method, name) and
// checks it.
func (r Route) Normalize(prompt string, maxTokens int) (Route, error) {
	if r.Model != "" {
		if r.Method == "" {
			r.Method = http.MethodPost
		}
		if r.Path == "" {
			r.Path = ChatPath
		}
		if r.Body == "" {
			r.Body = ChatBody(r.Model, prompt, maxTokens)
		}
		if r.Name == "" {
			r.Name = r.Model
		}
	}
	if r.Method == "" {
		r.Method = http.MethodGet
		if r.Body != "" {
			r.Method = http.MethodPost
		}
	}
	r.Method = strings.ToUpper(r.Method)
	if r.Path == "" {
		r.Path = "/"
	}
	if !strings.HasPrefix(r.Path, "/") {
		return r, fmt.Errorf("route %q: path %q must start with /", r.Name, r.Path)
	}
	if r.Name == "" {
		r.Name = r.Method + " " + r.Path
	}
	if r.Rate < 0 {
		return r, fmt.Errorf("route %q: negative rate", r.Name)
	}
	return r, nil
}

// NormalizeAll normalizes routes and rejects duplicate names.
func NormalizeAll(rs []Route, prompt string, maxTokens int) ([]Route, error) {
	seen := map[string]bool{}
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		n, err := r.Normalize(prompt, maxTokens)
		if err != nil {
			return nil, err
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("two routes are named %q: give them distinct names", n.Name)
		}
		seen[n.Name] = true
		out = append(out, n)
	}
	return out, nil
}
