package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// codecVersion is the first byte of every stored state; bump it when the
// layout changes and keep decoding the old ones.
//
// Version 2 (written): version, uvarint count (>= 1), uvarint index of the
// oldest session, a byte 0/1 for the horizon and if 1 the varint horizon;
// then the newest session: 16-byte id, varint start, uvarint last-start,
// uvarint campaign length and its bytes; then the older sessions, oldest
// first, laid out alike but with each start (after the first) as a uvarint
// after the previous session's last. Indexes grow by one from the oldest.
// The older sessions' bytes do not depend on the newest session, so an
// event that only extends the newest one (the in-order path) neither
// decodes nor re-encodes them: they are copied as they are (see
// visitor.raw). A corrupt older part is therefore found only when an event
// needs it; the state is then replaced as for any corrupt record.
//
// Version 1 (read only): version, 16-byte id, uvarint index, varint start,
// uvarint last-start: a history of one session without a campaign.
const (
	codecVersion   = 2
	codecVersionV1 = 1
	// minSessionBytes is the least a version 2 session takes (id and three
	// one-byte varints), to bound the count of a corrupt record.
	minSessionBytes = 16 + 3
)

var errCorrupt = errors.New("corrupt session state")

// encode returns v's record in a new slice (Flush appends to a scratch
// buffer and copies instead).
func (v *visitor) encode() []byte { return slices.Clip(v.appendTo(nil)) }

// appendTo appends v's record to b.
func (v *visitor) appendTo(b []byte) []byte {
	b = append(b, codecVersion)
	newest := &v.sessions[len(v.sessions)-1]
	b = binary.AppendUvarint(b, uint64(len(v.sessions)+v.rawCount))
	b = binary.AppendUvarint(b, uint64(v.sessions[0].index)-uint64(v.rawCount))
	if v.hasHorizon {
		b = append(b, 1)
		b = binary.AppendVarint(b, v.horizon)
	} else {
		b = append(b, 0)
	}
	b = appendSession(b, newest, binary.AppendVarint(nil, newest.start))
	if v.rawCount > 0 {
		return append(b, v.raw...)
	}
	var buf [binary.MaxVarintLen64]byte
	for i := range v.sessions[:len(v.sessions)-1] {
		s := &v.sessions[i]
		if i == 0 {
			b = appendSession(b, s, binary.AppendVarint(buf[:0], s.start))
		} else {
			b = appendSession(b, s, binary.AppendUvarint(buf[:0], uint64(s.start-v.sessions[i-1].last)))
		}
	}
	return b
}

// appendSession lays out one session whose start is already encoded.
func appendSession(b []byte, s *session, start []byte) []byte {
	b = append(b, s.id[:]...)
	b = append(b, start...)
	b = binary.AppendUvarint(b, uint64(s.last-s.start))
	b = binary.AppendUvarint(b, uint64(len(s.campaign)))
	return append(b, s.campaign...)
}

// decode replaces v's sessions with those of record b, reusing v's memory
// (a campaign string equal to the one already in the slot is kept).
func (v *visitor) decode(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", errCorrupt)
	}
	switch b[0] {
	case codecVersionV1:
		return v.decodeV1(b[1:])
	case codecVersion:
		return v.decodeV2(b[1:])
	default:
		return fmt.Errorf("%w: unknown version %d", errCorrupt, b[0])
	}
}

// reader reads varints off a record, remembering the first failure.
type reader struct {
	b   []byte
	bad string
}

func (r *reader) fail(what string) {
	if r.bad == "" {
		r.bad = what
	}
	r.b = nil
}

func (r *reader) uvarint(what string, limit uint64) uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 || x > limit {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) varint(what string) int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) bytes(what string, n int) []byte {
	if n > len(r.b) {
		r.fail(what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) err() error {
	if r.bad == "" && len(r.b) != 0 {
		r.bad = "trailing bytes"
	}
	if r.bad != "" {
		return fmt.Errorf("%w: bad %s", errCorrupt, r.bad)
	}
	return nil
}

// offset returns base+off and whether it fits an int64.
func offset(base int64, off uint64) (int64, bool) {
	if off > uint64(math.MaxInt64)-uint64(base) { // modular: MaxInt64-base
		return 0, false
	}
	return int64(uint64(base) + off), true
}

// add sets *x to base+off, failing the read on overflow.
func (r *reader) add(what string, x *int64, base int64, off uint64) {
	v, ok := offset(base, off)
	if !ok {
		r.fail(what)
	}
	*x = v
}

func (v *visitor) decodeV1(b []byte) error {
	r := reader{b: b}
	var s session
	copy(s.id[:], r.bytes("id", 16))
	s.index = int32(r.uvarint("index", math.MaxInt32))
	s.start = r.varint("start")
	r.add("span", &s.last, s.start, r.uvarint("span", math.MaxUint64))
	if err := r.err(); err != nil {
		return err
	}
	v.sessions = append(v.sessions[:0], s)
	v.hasHorizon, v.raw, v.rawCount = false, nil, 0
	return nil
}

// decodeV2 decodes the header and the newest session; the older sessions
// stay in v.raw (pointing into b, which must not change) until full.
func (v *visitor) decodeV2(b []byte) error {
	r := reader{b: b}
	count := int(r.uvarint("count", uint64(len(b)/minSessionBytes)))
	if count == 0 && r.bad == "" {
		r.fail("count")
	}
	first := r.uvarint("index", math.MaxInt32+1-uint64(count))
	hasHorizon := r.bytes("horizon flag", 1)
	var horizon int64
	switch {
	case hasHorizon == nil:
	case hasHorizon[0] == 1:
		horizon = r.varint("horizon")
	case hasHorizon[0] != 0:
		r.fail("horizon flag")
	}
	if r.bad != "" {
		return r.err()
	}
	ss := v.sessions[:cap(v.sessions)]
	if len(ss) == 0 {
		ss = make([]session, 1, 4)
	}
	s := &ss[0]
	r.session(s, 0, true)
	s.index = int32(first) + int32(count-1)
	if count == 1 {
		if err := r.err(); err != nil {
			return err
		}
	} else if r.bad != "" {
		return r.err()
	}
	v.sessions = ss[:1]
	v.raw, v.rawCount = nil, count-1
	if count > 1 {
		v.raw = r.b
	}
	v.horizon, v.hasHorizon = horizon, hasHorizon[0] == 1
	return nil
}

// session reads one session into s; its start is a varint if first, else a
// uvarint after prevLast. A campaign equal to s's is kept (no allocation).
func (r *reader) session(s *session, prevLast int64, first bool) {
	copy(s.id[:], r.bytes("id", 16))
	s.hexID = ""
	if first {
		s.start = r.varint("start")
	} else {
		r.add("start", &s.start, prevLast, r.uvarint("start", math.MaxUint64))
	}
	r.add("span", &s.last, s.start, r.uvarint("span", math.MaxUint64))
	c := r.bytes("campaign", int(r.uvarint("campaign length", uint64(len(r.b)))))
	if string(c) != s.campaign {
		s.campaign = string(c)
	}
}

// full decodes the older sessions kept raw, if any, in front of the newest.
// On error v is unchanged.
func (v *visitor) full() error {
	if v.rawCount == 0 {
		return nil
	}
	newest := v.sessions[0]
	r := reader{b: v.raw}
	ss := slices.Grow(v.sessions[:0], v.rawCount+1)[:v.rawCount+1]
	var prevLast int64
	for i := range v.rawCount {
		s := &ss[i]
		r.session(s, prevLast, i == 0)
		s.index = newest.index - int32(v.rawCount-i)
		prevLast = s.last
		if r.bad != "" {
			break
		}
	}
	if r.bad == "" && prevLast > newest.start {
		r.fail("newest start")
	}
	if err := r.err(); err != nil {
		ss[0] = newest
		v.sessions = ss[:1]
		return err
	}
	ss[v.rawCount] = newest
	v.sessions, v.raw, v.rawCount = ss, nil, 0
	return nil
}

// oldestLast returns the last event time of the oldest session, reading it
// from v.raw if needed; ok is false if the raw bytes are unreadable.
func (v *visitor) oldestLast() (last int64, ok bool) {
	if v.rawCount == 0 {
		return v.sessions[0].last, true
	}
	r := reader{b: v.raw}
	var s session
	r.session(&s, 0, true)
	return s.last, r.bad == ""
}
