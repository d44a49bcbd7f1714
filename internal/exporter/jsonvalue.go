package exporter

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
func (s *scan) skip(i int, depth int) (int, error) {
	b := s.b
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
			e, _, w := s.str(i + 1)
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
			e, _, w := s.str(i + 1)
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
