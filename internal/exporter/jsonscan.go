package exporter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
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
func (x *Extractor) Extract(line []byte, out []Value) error {
	clear(out)
	b := line
	i := ws(b, 0)
	if i >= len(b) {
		return perr(i, "empty line")
	}
	if b[i] != '{' {
		return perr(i, "not a JSON object")
	}
	i, err := object(b, i, x.root, out, 1)
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

func (n *node) lookup(key []byte, escaped bool) *node {
	if escaped {
		key = appendUnescaped(nil, key) // rare; allocates
	} else if len(key) < 64 && (len(key) == 0 || n.first[key[0]]&(1<<uint(len(key))) == 0) {
		return nil
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
func object(b []byte, i int, want *node, out []Value, depth int) (int, error) {
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
		ke, esc, why := scanString(b, ks)
		if why != "" {
			return ke, perr(ke, why)
		}
		var sub *node
		if len(want.children) > 0 {
			sub = want.lookup(b[ks:ke], esc)
		}
		i = ws(b, ke+1)
		if i >= len(b) || b[i] != ':' {
			return i, perr(i, "expected ':' after key")
		}
		i = ws(b, i+1)
		if i >= len(b) {
			return i, perr(i, "expected a value")
		}
		vs := i
		var v Value
		switch c := b[i]; {
		case c == '"':
			e, esc, why := scanString(b, i+1)
			if why != "" {
				return e, perr(e, why)
			}
			v = Value{Kind: String, Escaped: esc, Raw: b[i+1 : e]}
			i = e + 1
		case c == '{':
			var err error
			if sub != nil && len(sub.children) > 0 {
				i, err = object(b, i, sub, out, depth+1)
			} else {
				i, err = skip(b, i, depth+1)
			}
			if err != nil {
				return i, err
			}
			v = Value{Kind: Object, Raw: b[vs:i]}
		case c == '[':
			var err error
			if i, err = skip(b, i, depth+1); err != nil {
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
		i = ws(b, i)
		if i >= len(b) {
			return i, perr(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = ws(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, perr(i, "expected ',' or '}' in object")
		}
	}
}

// scalar scans a number or literal at b[i].
func scalar(b []byte, i int) (int, Kind, string) {
	switch c := b[i]; {
	case c == '-' || isDigit(c):
		j, ok := number(b, i)
		if !ok {
			return j, Number, "invalid number"
		}
		return j, Number, ""
	case c == 't':
		return literal(b, i, "true", Bool)
	case c == 'f':
		return literal(b, i, "false", Bool)
	case c == 'n':
		return literal(b, i, "null", Null)
	}
	return i, Missing, "unexpected character"
}

func literal(b []byte, i int, lit string, k Kind) (int, Kind, string) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, k, "invalid literal"
	}
	return i + len(lit), k, ""
}

// skip validates the container starting at b[i] ('{' or '[') without
// recording anything, iteratively, and returns the index just past it.
func skip(b []byte, i int, depth int) (int, error) {
	var stack [maxDepth/64 + 1]uint64 // bit set: that level is an object
	level := 0
	isObj := func() bool { return stack[(level-1)>>6]&(1<<uint((level-1)&63)) != 0 }
	var why string
	for {
		// At the start of a container: b[i] is '{' or '['.
		if depth+level > maxDepth {
			return i, perr(i, "nesting too deep")
		}
		obj := b[i] == '{'
		if obj {
			stack[level>>6] |= 1 << uint(level&63)
		} else {
			stack[level>>6] &^= 1 << uint(level&63)
		}
		level++
		i = ws(b, i+1)
		if i < len(b) && (b[i] == '}' && obj || b[i] == ']' && !obj) {
			i++
			level--
			goto after
		}
		if obj {
			goto key
		}
		goto value

	key:
		if i >= len(b) || b[i] != '"' {
			if i >= len(b) {
				return i, perr(i, "unterminated object")
			}
			return i, perr(i, "expected a string key")
		}
		{
			e, _, w := scanString(b, i+1)
			if w != "" {
				return e, perr(e, w)
			}
			i = ws(b, e+1)
		}
		if i >= len(b) || b[i] != ':' {
			return i, perr(i, "expected ':' after key")
		}
		i = ws(b, i+1)

	value:
		if i >= len(b) {
			return i, perr(i, "expected a value")
		}
		switch b[i] {
		case '{', '[':
			continue
		case '"':
			e, _, w := scanString(b, i+1)
			if w != "" {
				return e, perr(e, w)
			}
			i = e + 1
		default:
			if i, _, why = scalar(b, i); why != "" {
				return i, perr(i, why)
			}
		}

	after:
		for {
			if level == 0 {
				return i, nil
			}
			i = ws(b, i)
			o := isObj()
			if i >= len(b) {
				if o {
					return i, perr(i, "unterminated object")
				}
				return i, perr(i, "unterminated array")
			}
			switch c := b[i]; {
			case c == ',':
				i = ws(b, i+1)
				if o {
					goto key
				}
				goto value
			case c == '}' && o, c == ']' && !o:
				i++
				level--
			case o:
				return i, perr(i, "expected ',' or '}' in object")
			default:
				return i, perr(i, "expected ',' or ']' in array")
			}
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func number(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) || !isDigit(b[i]) {
		return i, false
	}
	if b[i] == '0' {
		i++
	} else {
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// quoteOrBackslash returns a mask with the high bit set in the first byte of
// x (little-endian) that is '"' or '\\'; bytes after it may be flagged
// spuriously, so only the lowest set bit is meaningful.
func quoteOrBackslash(x uint64) uint64 {
	q := x ^ (swarLo * '"')
	e := x ^ (swarLo * '\\')
	return ((q-swarLo)&^q | (e-swarLo)&^e) & swarHi
}

// scanString scans a string body starting at i (just past the opening
// quote) and returns the index of the closing quote, whether the body has
// escapes, and a failure reason ("" when fine).
func scanString(b []byte, i int) (int, bool, string) {
	escaped := false
	for {
		// Eight bytes per step to the next quote or backslash.
		for ; i+8 <= len(b); i += 8 {
			if m := quoteOrBackslash(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
		}
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' {
				goto found
			}
		}
		return len(b), false, "unterminated string"
	found:
		if b[i] == '"' {
			return i, escaped, ""
		}
		escaped = true
		i++
		if i >= len(b) {
			return i, false, "unterminated string"
		}
		switch b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i++
		case 'u':
			if len(b)-i < 5 || !isHex4(b[i+1:i+5]) {
				return i, false, "invalid \\u escape"
			}
			i += 5
		default:
			return i, false, "invalid escape"
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case isDigit(c):
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		default:
			r |= rune(c-'A') + 10
		}
	}
	return r
}

// appendUnescaped appends the unescaped form of a validated string body.
// Lone surrogates become U+FFFD, as in encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				return append(dst, raw[i:]...)
			}
			dst = append(dst, raw[i:i+j]...)
			i += j
			continue
		}
		i++
		if i >= len(raw) {
			return dst
		}
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if len(raw)-i < 5 {
				return dst
			}
			r := hex4(raw[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				if len(raw)-i >= 7 && raw[i+1] == '\\' && raw[i+2] == 'u' && isHex4(raw[i+3:]) {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+3:])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
		i++
	}
	return dst
}
