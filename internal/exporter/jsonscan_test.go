package exporter

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func extract(t *testing.T, fields []string, line string) ([]Value, error) {
	t.Helper()
	x, err := NewExtractor(fields)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Value, len(fields))
	return out, x.Extract([]byte(line), out)
}

func text(v Value) string {
	t, _ := v.Text(nil)
	return string(t)
}

func TestExtract(t *testing.T) {
	fields := []string{"event", "model", "status_code", "meta.user", "meta.tags"}
	tests := []struct {
		name, line string
		want       map[string]string // field -> kind:text
		err        string
	}{
		{name: "flat", line: `{"event":"request_completed","model":"qwen3.5","status_code":200}`,
			want: map[string]string{"event": "string:request_completed", "model": "string:qwen3.5", "status_code": "number:200", "meta.user": "missing:", "meta.tags": "missing:"}},
		{name: "nested and skipped", line: `{"x":[1,{"event":"no"},[]],"meta":{"user":"ann","tags":["a"],"deep":{"a":[true,false,null]}},"event":"e"}`,
			want: map[string]string{"event": "string:e", "meta.user": "string:ann", "meta.tags": `array:["a"]`, "model": "missing:"}},
		{name: "escapes", line: `{"model":"gpt-4o\u002dmini \"q\" \\ \/ \ud83d\ude00 \n"}`,
			want: map[string]string{"model": "string:gpt-4o-mini \"q\" \\ / 😀 \n"}},
		{name: "escaped key", line: `{"mod\u0065l":"m"}`, want: map[string]string{"model": "string:m"}},
		{name: "lone surrogate", line: `{"model":"a\ud800b"}`, want: map[string]string{"model": "string:a\uFFFDb"}},
		{name: "literals and numbers", line: ` { "event" : true , "model" : null , "status_code" : -1.5e+3 } `,
			want: map[string]string{"event": "bool:true", "model": "null:null", "status_code": "number:-1.5e+3"}},
		{name: "duplicate key: last wins", line: `{"event":"a","event":"b"}`, want: map[string]string{"event": "string:b"}},
		{name: "object value of a leaf", line: `{"model":{"name":"x"}}`, want: map[string]string{"model": `object:{"name":"x"}`}},
		{name: "meta not an object", line: `{"meta":"flat"}`, want: map[string]string{"meta.user": "missing:"}},
		{name: "empty object", line: `{}`, want: map[string]string{"event": "missing:"}},

		// The scanner finds string ends with a backslash-free fast path;
		// these mix escaped and plain strings, short and long.
		{name: "escape then plain", line: `{"x":"a\\","model":"m","event":"\"","status_code":"long string past thirty-two bytes \" with a quote"}`,
			want: map[string]string{"model": "string:m", "event": `string:"`, "status_code": `string:long string past thirty-two bytes " with a quote`}},
		{name: "escaped quote late in a long string", line: `{"model":"0123456789012345678901234567890123456789\"x","event":"e"}`,
			want: map[string]string{"model": `string:0123456789012345678901234567890123456789"x`, "event": "string:e"}},
		{name: "backslash outside a string", line: `{"event":"a",\"model":"m"}`, err: "expected a string key"},
		{name: "backslash after the object", line: `{"event":"a"}\`, err: "unexpected data after the object"},
		{name: "truncated in an escaped string", line: `{"event":"a\"b`, err: "unterminated string"},
		{name: "truncated", line: `{"event":"request_completed","model":"q`, err: "unterminated string"},
		{name: "truncated after value", line: `{"event":"request_completed"`, err: "unterminated object"},
		{name: "trailing data", line: `{"event":"a"} x`, err: "unexpected data after the object"},
		{name: "two objects", line: `{"event":"a"}{"event":"b"}`, err: "unexpected data after the object"},
		{name: "array", line: `[1,2]`, err: "not a JSON object"},
		{name: "string", line: `"event"`, err: "not a JSON object"},
		{name: "empty", line: `   `, err: "empty line"},
		{name: "bad escape", line: `{"event":"a\qb"}`, err: "invalid escape"},
		{name: "bad unicode escape", line: `{"event":"\u12G4"}`, err: `invalid \u escape`},
		{name: "bad number", line: `{"status_code":01}`, err: "expected ',' or '}' in object"},
		{name: "bad number 2", line: `{"status_code":1.}`, err: "invalid number"},
		{name: "bad number 3", line: `{"status_code":-}`, err: "invalid number"},
		{name: "bad literal", line: `{"event":tru}`, err: "invalid literal"},
		{name: "unquoted key", line: `{event:"a"}`, err: "expected a string key"},
		{name: "missing colon", line: `{"event" "a"}`, err: "expected ':' after key"},
		{name: "trailing comma", line: `{"event":"a",}`, err: "expected a string key"},
		{name: "array trailing comma", line: `{"a":[1,]}`, err: "unexpected character"},
		{name: "bad nested", line: `{"meta":{"user":"a" "tags":1}}`, err: "expected ',' or '}' in object"},
		{name: "too deep", line: `{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, err: "nesting too deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := extract(t, fields, tc.line)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			for i, f := range fields {
				want, ok := tc.want[f]
				if !ok {
					continue
				}
				if got := out[i].Kind.String() + ":" + text(out[i]); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
		})
	}
}

func TestNewExtractorErrors(t *testing.T) {
	for _, paths := range [][]string{{""}, {"a..b"}, {"a", "a"}, {".a"}} {
		if _, err := NewExtractor(paths); err == nil {
			t.Errorf("NewExtractor(%q) accepted", paths)
		}
	}
	// A path and its parent may both be wanted.
	out, err := extract(t, []string{"m", "m.a"}, `{"m":{"a":1}}`)
	if err != nil || out[0].Kind != Object || text(out[1]) != "1" {
		t.Fatalf("parent and child: %v %v", out, err)
	}
}

// refFields decodes line with encoding/json and renders the wanted fields
// as kind:text, the oracle for FuzzParseLine.
func refFields(line []byte, fields []string) (map[string]string, bool) {
	if !json.Valid(line) || !bytes.HasPrefix(bytes.TrimLeft(line, " \t\r\n"), []byte("{")) {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	out := map[string]string{}
	for _, f := range fields {
		var cur any = m
		for _, seg := range strings.Split(f, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				cur = missingT{}
				break
			}
			v, ok := obj[seg]
			if !ok {
				cur = missingT{}
				break
			}
			cur = v
		}
		switch v := cur.(type) {
		case missingT:
			out[f] = "missing:"
		case string:
			out[f] = "string:" + v
		case json.Number:
			out[f] = "number:" + v.String()
		case bool:
			if v {
				out[f] = "bool:true"
			} else {
				out[f] = "bool:false"
			}
		case nil:
			out[f] = "null:null"
		case map[string]any:
			out[f] = "object"
		case []any:
			out[f] = "array"
		}
	}
	return out, true
}

type missingT struct{}

func replaceCtl(b []byte) []byte {
	c := bytes.Clone(b)
	for i := range c {
		if c[i] < 0x20 {
			c[i] = ' '
		}
	}
	return c
}

// FuzzParseLine checks the line parser against encoding/json, both ways:
// every line encoding/json accepts as one object is accepted with the same
// field values; every line the parser accepts is accepted by json.Valid
// once raw control characters inside strings (accepted on purpose, the only
// tolerated invalid input) are replaced by spaces. The seeds mix escaped and
// plain strings of every length, for the scanner's backslash-free fast path. It also runs the line
// through the litellm processor, which must never panic and must classify
// consistently with the parser.
func FuzzParseLine(f *testing.F) {
	for _, l := range litellmLines(40, 9) {
		f.Add(l)
	}
	for _, s := range []string{`{}`, `[]`, `{"a":"\u00e9\ud83d\ude00"}`, `{"event":"request_completed","model":"m","status_code":200}`,
		`{"meta":{"pod":"p","tags":["x"]}}`, `{"a":1e5,"b":-0.0,"c":[[],{}]}`, "{\"a\":\"\x01\"}", `{"a":"\ud800"}`, `{"event":"x"`,
		`{"x":"a\\","model":"m\"","status_code":"0123456789012345678901234567890123456789\n"}`, `{"a":"\\"}\`} {
		f.Add([]byte(s))
	}
	fields := []string{"event", "model", "status_code", "api_user", "metadata.pod", "metadata.tags"}
	x, err := NewExtractor(fields)
	if err != nil {
		f.Fatal(err)
	}
	cfg, _ := Preset("litellm")
	p, err := NewProcessor(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		out := make([]Value, len(fields))
		err := x.Extract(line, out)
		ref, ok := refFields(line, fields)
		if ok {
			if err != nil {
				t.Fatalf("rejected a valid object %q: %v", line, err)
			}
			if utf8.Valid(line) {
				for i, f := range fields {
					got := out[i].Kind.String()
					if got != "object" && got != "array" {
						got += ":" + text(out[i])
					}
					if got != ref[f] {
						t.Fatalf("%q: field %s = %q, encoding/json says %q", line, f, got, ref[f])
					}
				}
			}
		} else if err == nil {
			if _, ok := refFields(replaceCtl(line), fields); !ok {
				t.Fatalf("accepted %q, which encoding/json rejects", line)
			}
		}
		r, _ := p.Process(line)
		if err != nil && len(trimSpace(line)) > 0 && r != Malformed {
			t.Fatalf("%q: parser error %v but processor says %s", line, err, r)
		}
		if err == nil && r == Malformed && out[1].Kind == String && out[2].Kind == Number && out[3].Kind != Object && out[3].Kind != Array {
			t.Fatalf("%q: parsed, has model and status_code, but classified malformed", line)
		}
	})
}
