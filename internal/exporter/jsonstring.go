package exporter

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// scan is the state of one Extract call: the line, and where its next
// backslash is.
//
// Most strings in a log line have no escapes, so a string normally ends at
// the next '"', which bytes.IndexByte finds at memchr speed. That is only
// right when no backslash comes first, so the scanner keeps bs, the index of
// the first backslash at or after the current position (found the same
// way): a string whose closing quote comes before bs has no escapes and is
// done; otherwise it is scanned byte by byte with escapes validated, and bs
// is moved past it. Backslashes outside strings are syntax errors, reported
// when the parser reaches them, so bs never falls behind the position.
type scan struct {
	b  []byte
	bs int // index of the next backslash, len(b) when there is none
}

// nextByte returns the index of the first c in b[i:], or len(b).
func nextByte(b []byte, i int, c byte) int {
	if j := bytes.IndexByte(b[i:], c); j >= 0 {
		return i + j
	}
	return len(b)
}

// str scans a string body starting at i (just past the opening quote) and
// returns the index of the closing quote, whether the body has escapes,
// and a failure reason ("" when fine).
func (s *scan) str(i int) (int, bool, string) {
	b := s.b
	// Keys and most values end within 32 bytes: a few words, no call.
	j := i
	for n := 0; n < 4 && j+8 <= len(b); n++ {
		if m := hasQuote(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			if e := j + bits.TrailingZeros64(m)>>3; e < s.bs {
				return e, false, ""
			}
			return s.escaped(i)
		}
		j += 8
	}
	if q := bytes.IndexByte(b[j:], '"'); q >= 0 && j+q < s.bs {
		return j + q, false, ""
	}
	return s.escaped(i)
}

// short returns the end of the string body starting at i when it is short:
// its closing quote is within the next 8 bytes and comes before any
// backslash. Otherwise it returns -1 and the caller uses str. It is small
// enough to inline, which saves a call on most keys.
func (s *scan) short(i int) int {
	if i+8 <= len(s.b) {
		if m := hasQuote(binary.LittleEndian.Uint64(s.b[i:])); m != 0 {
			if e := i + bits.TrailingZeros64(m)>>3; e < s.bs {
				return e
			}
		}
	}
	return -1
}

// escaped scans a string that may hold escapes (or may be unterminated),
// validating them, and moves bs past it.
func (s *scan) escaped(i int) (int, bool, string) {
	e, esc, why := scanString(s.b, i)
	if why == "" {
		s.bs = nextByte(s.b, e+1, '\\')
	}
	return e, esc, why
}

// hasQuote returns a mask with the high bit set in the first byte of x
// (little-endian) that is '"'; as in quoteOrBackslash, only the lowest set
// bit is meaningful.
func hasQuote(x uint64) uint64 {
	q := x ^ (swarLo * '"')
	return (q - swarLo) &^ q & swarHi
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
