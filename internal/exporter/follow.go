package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// LineFunc receives one line without its newline. The slice is only valid
// during the call.
type LineFunc func(line []byte)

// splitter cuts a byte stream into lines with a bounded buffer: a line longer
// than max is reported once through tooLong and discarded up to its newline,
// so memory stays flat whatever the input.
type splitter struct {
	buf        []byte
	start, end int
	max        int
	discarding bool
	fn         LineFunc
	tooLong    func()
}

// initialBuf is the read size: 256 KiB stays in the L2 cache while its
// lines are parsed, and measured fastest here (64 KiB costs more syscalls,
// 1 MiB more cache misses).
const initialBuf = 256 << 10

func newSplitter(max int, fn LineFunc, tooLong func()) *splitter {
	if max <= 0 {
		max = 1 << 20
	}
	return &splitter{buf: make([]byte, min(initialBuf, max+1)), max: max, fn: fn, tooLong: tooLong}
}

// fill reads once from r into the buffer and hands out the complete lines.
func (s *splitter) fill(r io.Reader) (int, error) {
	if s.start > 0 && s.start == s.end {
		s.start, s.end = 0, 0
	}
	if s.start > 0 && len(s.buf)-s.end < len(s.buf)/2 {
		// Move the partial line to the front so that reads stay large.
		copy(s.buf, s.buf[s.start:s.end])
		s.end -= s.start
		s.start = 0
	}
	if s.end == len(s.buf) {
		switch {
		case s.start > 0:
			copy(s.buf, s.buf[s.start:s.end])
			s.end -= s.start
			s.start = 0
		case len(s.buf) <= s.max:
			nb := make([]byte, min(2*len(s.buf), s.max+1))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
	}
	if s.end == len(s.buf) {
		// A whole buffer (max+1 bytes) without a newline: too long.
		if !s.discarding {
			s.discarding = true
			s.tooLong()
		}
		s.start, s.end = 0, 0
	}
	n, err := r.Read(s.buf[s.end:])
	if n > 0 {
		s.end += n
		s.lines()
	}
	return n, err
}

func (s *splitter) lines() {
	for s.start < s.end {
		i := bytes.IndexByte(s.buf[s.start:s.end], '\n')
		if i < 0 {
			if s.end-s.start > s.max {
				if !s.discarding {
					s.discarding = true
					s.tooLong()
				}
				s.start, s.end = 0, 0
			}
			return
		}
		line := s.buf[s.start : s.start+i]
		s.start += i + 1
		if s.discarding {
			s.discarding = false
			continue
		}
		if len(line) > s.max {
			s.tooLong()
			continue
		}
		s.fn(line)
	}
}

// flush hands out a final line that has no newline (end of input, or the
// last line of a rotated file).
func (s *splitter) flush() {
	if s.start < s.end && !s.discarding {
		s.fn(s.buf[s.start:s.end])
	}
	s.reset()
}

// reset drops any partial line (after a truncation).
func (s *splitter) reset() { s.start, s.end, s.discarding = 0, 0, false }

// ReadLines splits r into lines until EOF (a last line without newline
// included) or an error, or until ctx is done.
func ReadLines(ctx context.Context, r io.Reader, maxLine int, fn LineFunc, tooLong func()) error {
	s := newSplitter(maxLine, fn, tooLong)
	for {
		if ctx.Err() != nil {
			return nil
		}
		_, err := s.fill(r)
		if errors.Is(err, io.EOF) {
			s.flush()
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// FollowEvent is something a follower noticed about its file.
type FollowEvent string

// Follower events.
const (
	EventOpened    FollowEvent = "opened"
	EventWaiting   FollowEvent = "waiting"   // the path does not exist (yet)
	EventRotated   FollowEvent = "rotated"   // the path now names another file
	EventTruncated FollowEvent = "truncated" // the file shrank below the read offset
)

// FollowOptions configures Follow.
type FollowOptions struct {
	Path string
	// FromStart reads the file present at start from its beginning instead
	// of its end. Files that appear later (after a rotation, or when the
	// path did not exist yet) are always read from their beginning.
	FromStart bool
	// Poll is how often EOF is re-checked for growth, rotation and
	// truncation (default 250ms).
	Poll time.Duration
	// ExitOnEOF stops at the first end of file instead of following.
	ExitOnEOF bool
	MaxLine   int
	// OnEvent, if set, is told about opens, rotations and truncations.
	OnEvent func(ev FollowEvent, path string)
}

// Follow reads lines from a file like `tail -F`: it waits for the file to
// exist, keeps reading as it grows, switches to the new file when the path
// is rotated (after draining the old one), and starts over when the file is
// truncated (copytruncate). It returns when ctx is done, at EOF with
// ExitOnEOF, or on a read error.
func Follow(ctx context.Context, o FollowOptions, fn LineFunc, tooLong func()) error {
	poll := o.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	event := func(ev FollowEvent) {
		if o.OnEvent != nil {
			o.OnEvent(ev, o.Path)
		}
	}
	sleep := func() bool {
		t := time.NewTimer(poll)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	s := newSplitter(o.MaxLine, fn, tooLong)

	// Open, waiting for the file to appear.
	fromStart := o.FromStart
	open := func() (*os.File, int64, error) {
		waiting := false
		for {
			f, err := os.Open(o.Path)
			if err == nil {
				var pos int64
				if !fromStart {
					if pos, err = f.Seek(0, io.SeekEnd); err != nil {
						f.Close()
						return nil, 0, err
					}
				}
				event(EventOpened)
				return f, pos, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, 0, err
			}
			if o.ExitOnEOF {
				return nil, 0, err
			}
			if !waiting {
				waiting = true
				event(EventWaiting)
			}
			// A file that appears later is new: read it all.
			fromStart = true
			if !sleep() {
				return nil, 0, ctx.Err()
			}
		}
	}
	f, pos, err := open()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()

	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := s.fill(f)
		pos += int64(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n > 0 {
			continue
		}
		// At EOF.
		if o.ExitOnEOF {
			s.flush()
			return nil
		}
		cur, cerr := f.Stat()
		if cerr == nil && cur.Size() < pos {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			pos = 0
			s.reset()
			event(EventTruncated)
			continue
		}
		st, serr := os.Stat(o.Path)
		if serr == nil && cerr == nil && !os.SameFile(cur, st) {
			// Rotated: drain what was appended to the old file, then switch.
			for {
				n, err := s.fill(f)
				if n == 0 || err != nil {
					break
				}
			}
			s.flush()
			f.Close()
			f = nil
			fromStart = true
			nf, npos, err := open()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			f, pos = nf, npos
			event(EventRotated)
			continue
		}
		if !sleep() {
			return nil
		}
	}
}
