package exporter

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Kind is the JSON type of an extracted value.
type Kind uint8

// Value kinds. Missing means the field was not present in the line.
const (
	Missing Kind = iota
	String
	Number
	Bool
	Null
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case Missing:
		return "missing"
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "bool"
	case Null:
		return "null"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one field extracted from a line. Raw aliases the line's bytes:
// for a string it is the text between the quotes, still escaped when Escaped
// is set; for any other kind it is the literal JSON text.
type Value struct {
	Kind    Kind
	Escaped bool
	Raw     []byte
}

// Text returns the value as label text: a string's unescaped contents, a
// number or literal's JSON text. scratch is reused for unescaping; the result
// may alias the line, scratch, or a constant.
func (v Value) Text(scratch []byte) ([]byte, []byte) {
	if v.Kind == String && v.Escaped {
		scratch = appendUnescaped(scratch[:0], v.Raw)
		return scratch, scratch
	}
	return v.Raw, scratch
}

// maxDepth bounds nesting so a hostile line cannot exhaust the stack.
const maxDepth = 256

// Extractor pulls a fixed set of fields, addressed by dotted paths
// ("model", "metadata.user"), out of single-line JSON objects in one pass,
// without allocating. It validates the whole line's JSON syntax (strings,
// escapes, numbers, literals, nesting, trailing bytes) so that a truncated or
// corrupted line is reported, never half-read. It is deliberately lenient in
// one way: raw control characters inside strings are accepted.
type Extractor struct {
	root   *node
	fields []string
}

type node struct {
	key      []byte
	slot     int // index into the output, -1 when only an inner node
	children []*node
	// first[c] has bit n set when a child key starts with byte c and is n
	// bytes long (n < 64): most keys are rejected without a comparison.
	first *[256]uint64
}

func (n *node) child(key []byte) *node {
	for _, c := range n.children {
		if bytes.Equal(c.key, key) {
			return c
		}
	}
	return nil
}

// NewExtractor compiles the wanted field paths. Paths are split on "."; a
// key that itself contains a dot cannot be addressed.
func NewExtractor(paths []string) (*Extractor, error) {
	x := &Extractor{root: &node{slot: -1}, fields: append([]string(nil), paths...)}
	for i, p := range paths {
		if p == "" {
			return nil, errors.New("empty field path")
		}
		n := x.root
		for _, seg := range strings.Split(p, ".") {
			if seg == "" {
				return nil, errors.New("field path " + strconv.Quote(p) + " has an empty segment")
			}
			c := n.child([]byte(seg))
			if c == nil {
				c = &node{key: []byte(seg), slot: -1}
				n.children = append(n.children, c)
				if n.first == nil {
					n.first = new([256]uint64)
				}
				if len(seg) < 64 {
					n.first[seg[0]] |= 1 << uint(len(seg))
				}
			}
			n = c
		}
		if n.slot >= 0 {
			return nil, errors.New("field path " + strconv.Quote(p) + " listed twice")
		}
		n.slot = i
	}
	return x, nil
}

// Fields returns the paths in output order.
func (x *Extractor) Fields() []string { return x.fields }

// ParseError says why a line is not a JSON object.
type ParseError struct {
	Off    int
	Reason string
}

func (e *ParseError) Error() string {
	return e.Reason + " at byte " + strconv.Itoa(e.Off)
}

func perr(off int, reason string) error { return &ParseError{Off: off, Reason: reason} }

// Extract parses line, which must hold exactly one JSON object (surrounding
// whitespace allowed), and fills out (len(out) must equal the number of
// fields) with the wanted values. A field present more than once keeps its
// last value, as most JSON decoders do.
//
// The whole line is validated, but only the wanted fields are recorded:
// other values are scanned, not decoded. See scan for how strings, which
// are most of a log line's bytes, are found at memchr speed.
func (x *Extractor) Extract(line []byte, out []Value) error {
	clear(out)
	s := scan{b: line, bs: nextByte(line, 0, '\\')}
	b := line
	i := ws(b, 0)
	if i >= len(b) {
		return perr(i, "empty line")
	}
	if b[i] != '{' {
		return perr(i, "not a JSON object")
	}
	i, err := s.object(i, x.root, out, 1)
	if err != nil {
		return err
	}
	if i = ws(b, i); i != len(b) {
		return perr(i, "unexpected data after the object")
	}
	return nil
}

// ws skips JSON whitespace from i.
func ws(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// lookup returns the child of n named key, or nil. object calls it only
// for keys that pass n.first, the first-byte/length bitmap: most keys of a
// log line are not wanted, and are rejected with one load.
func (n *node) lookup(key []byte, escaped bool) *node {
	if escaped {
		key = appendUnescaped(nil, key) // rare; allocates
	}
	for _, c := range n.children {
		if string(c.key) == string(key) {
			return c
		}
	}
	return nil
}

// object parses the object starting at b[i] == '{', recording the fields
// want asks for, and returns the index just past its '}'.
func (s *scan) object(i int, want *node, out []Value, depth int) (int, error) {
	b := s.b
	if depth > maxDepth {
		return i, perr(i, "nesting too deep")
	}
	i = ws(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, perr(i, "unterminated object")
		}
		if b[i] != '"' {
			return i, perr(i, "expected a string key")
		}
		ks := i + 1
		ke, esc := s.short(ks), false
		if ke < 0 {
			var why string
			if ke, esc, why = s.str(ks); why != "" {
				return ke, perr(ke, why)
			}
		}
		var sub *node
		if want.first != nil && (esc || ke-ks >= 64 || want.first[b[ks]]&(1<<uint(ke-ks)) != 0) {
			sub = want.lookup(b[ks:ke], esc)
		}
		// Compact JSON ("key":value) is the common case: test for it
		// before calling ws.
		if i = ke + 1; i >= len(b) || b[i] != ':' {
			if i = ws(b, i); i >= len(b) || b[i] != ':' {
				return i, perr(i, "expected ':' after key")
			}
		}
		if i++; i >= len(b) || b[i] <= ' ' {
			if i = ws(b, i); i >= len(b) {
				return i, perr(i, "expected a value")
			}
		}
		vs := i
		var v Value
		switch c := b[i]; c {
		case '"':
			e, esc, why := s.str(i + 1)
			if why != "" {
				return e, perr(e, why)
			}
			v = Value{Kind: String, Escaped: esc, Raw: b[i+1 : e]}
			i = e + 1
		case '{':
			var err error
			if sub != nil && len(sub.children) > 0 {
				i, err = s.object(i, sub, out, depth+1)
			} else {
				i, err = s.skip(i, depth+1)
			}
			if err != nil {
				return i, err
			}
			v = Value{Kind: Object, Raw: b[vs:i]}
		case '[':
			var err error
			if i, err = s.skip(i, depth+1); err != nil {
				return i, err
			}
			v = Value{Kind: Array, Raw: b[vs:i]}
		default:
			var k Kind
			var why string
			if i, k, why = scalar(b, i); why != "" {
				return i, perr(i, why)
			}
			v = Value{Kind: k, Raw: b[vs:i]}
		}
		if sub != nil && sub.slot >= 0 {
			out[sub.slot] = v
		}
		if i >= len(b) || b[i] <= ' ' {
			if i = ws(b, i); i >= len(b) {
				return i, perr(i, "unterminated object")
			}
		}
		switch b[i] {
		case ',':
			if i++; i >= len(b) || b[i] != '"' {
				i = ws(b, i)
			}
		case '}':
			return i + 1, nil
		default:
			return i, perr(i, "expected ',' or '}' in object")
		}
	}
}
