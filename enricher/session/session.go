package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/sillage/sillage/internal/stream"
)

// Defaults of Options.
const (
	DefaultLateness    = 24 * time.Hour
	DefaultMaxSessions = 16
)

// Options tunes a Tracker. The zero value gives the defaults.
type Options struct {
	// Lateness is how far behind the latest event time seen for a visitor an
	// event may be and still land in the session it belongs to; an older
	// event is Late (see the package doc). Zero or negative means
	// DefaultLateness (24 hours).
	Lateness time.Duration
	// MaxSessions caps the sessions kept per visitor (the most recent ones);
	// a session dropped for the cap makes events that would reach it Late.
	// Zero or negative means DefaultMaxSessions (16).
	MaxSessions int
}

// Assignment is the session an event was placed in.
type Assignment struct {
	// ID is the session id (32 hex characters).
	ID string
	// Index counts the visitor's sessions from 1 in event-time order; 0 for
	// a Late event.
	Index int32
	// New is set when this event started the session.
	New bool
	// Inserted is set with New when the session was placed before sessions
	// already issued: the index of each later session of the visitor rose
	// by one.
	Inserted bool
	// Late is set for an event beyond the lateness bound: it has a session
	// of its own and the visitor's state is untouched.
	Late bool
	// Corrections lists the sessions this event merged (nil when none, the
	// common case). At most one today: the event closed the gap between two
	// sessions.
	Corrections []Correction
}

// Correction says that session From (index FromIndex) of Visitor was
// absorbed into session Into (index IntoIndex, the session just before it):
// downstream relabels From's events as Into and lowers by one the index of
// each later session of the visitor.
type Correction struct {
	Visitor   string
	From      string
	Into      string
	FromIndex int32
	IntoIndex int32
}

// Tracker assigns sessions for the visitors of one partition. Not safe for
// concurrent use.
type Tracker struct {
	store       *stream.Store
	gap         int64
	lateness    int64
	maxSessions int
	// live holds the visitors read since the last Flush, decoded; pending
	// counts those with changes to write.
	live    map[string]*visitor
	pending int
	free    []*visitor
	scratch []byte // Flush encodes here, then copies at the exact size
}

// visitor is one visitor's recent sessions, in event-time order. Decoding
// is lazy: while rawCount > 0, sessions holds only the newest session and
// raw the rawCount older ones as stored (see codec.go); full decodes them.
type visitor struct {
	sessions []session
	raw      []byte
	rawCount int
	// horizon, when set, is the latest event time that could still belong
	// to a session dropped for MaxSessions: events at or before it are Late.
	horizon    int64
	hasHorizon bool
	dirty      bool
}

// session is one session of a visitor. Times are Unix milliseconds;
// sessions of a visitor do not overlap (a session's last is at or before
// the next one's start), and index grows by one from each to the next.
type session struct {
	id       [16]byte
	hexID    string // cached hex of id; "" until needed
	index    int32
	start    int64
	last     int64
	campaign string
}

func (s *session) hex() string {
	if s.hexID == "" {
		s.hexID = hex.EncodeToString(s.id[:])
	}
	return s.hexID
}

// NewTracker returns a tracker over store with the given inactivity gap and
// options (the zero Options for the defaults).
func NewTracker(store *stream.Store, gap time.Duration, opts Options) *Tracker {
	if opts.Lateness <= 0 {
		opts.Lateness = DefaultLateness
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	return &Tracker{
		store:       store,
		gap:         gap.Milliseconds(),
		lateness:    opts.Lateness.Milliseconds(),
		maxSessions: opts.MaxSessions,
		live:        map[string]*visitor{},
	}
}

// load returns the visitor's state, decoding it from the store on first
// use since the last Flush. A non-nil error means the stored state was
// unreadable: the returned state is empty and marked to be overwritten.
func (t *Tracker) load(key string) (*visitor, error) {
	if v, ok := t.live[key]; ok {
		return v, nil
	}
	var v *visitor
	if n := len(t.free); n > 0 {
		v, t.free = t.free[n-1], t.free[:n-1]
	} else {
		v = &visitor{}
	}
	t.live[key] = v
	b, ok := t.store.Get(key)
	if !ok {
		v.reset()
		return v, nil
	}
	if err := v.decode(b); err != nil {
		return v, t.corrupt(v, err)
	}
	// A history longer than MaxSessions (the option was lowered) is cut
	// here, so that only a new session can push one out.
	if len(v.sessions)+v.rawCount > t.maxSessions {
		if err := v.full(); err != nil {
			return v, t.corrupt(v, err)
		}
		t.prune(v)
	}
	return v, nil
}

// corrupt empties a visitor whose record is unreadable and marks it to be
// overwritten; it returns err.
func (t *Tracker) corrupt(v *visitor, err error) error {
	v.reset()
	t.markDirty(v)
	return err
}

func (v *visitor) reset() {
	clear(v.sessions) // drop references to strings
	v.sessions = v.sessions[:0]
	v.horizon, v.hasHorizon, v.dirty = 0, false, false
	v.raw, v.rawCount = nil, 0
}

func (t *Tracker) markDirty(v *visitor) {
	if !v.dirty {
		v.dirty = true
		t.pending++
	}
}

// Flush writes the visitors changed since the last Flush to the store, one
// record each, and drops the decoded states (the next read decodes again).
func (t *Tracker) Flush() {
	for key, v := range t.live {
		if v.dirty {
			t.scratch = v.appendTo(t.scratch[:0])
			t.store.Put(key, bytes.Clone(t.scratch))
		}
		v.reset()
		t.free = append(t.free, v)
	}
	clear(t.live)
	t.pending = 0
}

// Pending returns how many visitors have unflushed changes.
func (t *Tracker) Pending() int { return t.pending }

// Forget removes a visitor's session state (erasure, issue 7).
func (t *Tracker) Forget(visitor string) {
	if v, ok := t.live[visitor]; ok {
		if v.dirty {
			t.pending--
		}
		delete(t.live, visitor)
		v.reset()
		t.free = append(t.free, v)
	}
	t.store.Delete(visitor)
}

// sessionID hashes the visitor and the id of the session's first event
// (sha256 of visitor, a zero byte and the event id, cut to 16 bytes; the
// same ids as the previous release). Short inputs are hashed from the stack.
func sessionID(visitor, eventID string) [16]byte {
	var buf [192]byte
	b := append(buf[:0], visitor...)
	b = append(b, 0)
	b = append(b, eventID...)
	sum := sha256.Sum256(b)
	var id [16]byte
	copy(id[:], sum[:])
	return id
}
