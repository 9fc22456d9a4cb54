package session

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/sillage/sillage/internal/stream"
)

// Assignment is the session an event was placed in.
type Assignment struct {
	// ID is the session id (32 hex characters).
	ID string
	// Index counts the visitor's sessions from 1; 0 for a Late event.
	Index int32
	// New is set when this event started the session.
	New bool
	// Late is set for an event older than the current session by more than
	// the gap (see the package doc).
	Late bool
}

// Tracker assigns sessions for the visitors of one partition. Not safe for
// concurrent use.
type Tracker struct {
	store *stream.Store
	gap   int64
	dirty map[string]state
}

// NewTracker returns a tracker over store with the given inactivity gap.
func NewTracker(store *stream.Store, gap time.Duration) *Tracker {
	return &Tracker{store: store, gap: gap.Milliseconds(), dirty: map[string]state{}}
}

// Assign places the event eventID of visitor, at event time at (Unix ms),
// in a session. A non-nil error means the stored state was unreadable; it
// was replaced by a new session and the assignment is still valid.
func (t *Tracker) Assign(visitor, eventID string, at int64) (Assignment, error) {
	st, ok, err := t.get(visitor)
	switch {
	case !ok:
		return t.start(visitor, eventID, at, 1), err
	case at > st.last+t.gap:
		return t.start(visitor, eventID, at, st.index+1), nil
	case at >= st.last:
		st.last = at
		t.dirty[visitor] = st
	case at >= st.start:
		// inside the session: nothing changes
	case at >= st.start-t.gap:
		st.start = at
		t.dirty[visitor] = st
	default:
		id := sessionID(visitor, eventID)
		return Assignment{ID: hex.EncodeToString(id[:]), Late: true}, nil
	}
	return Assignment{ID: hex.EncodeToString(st.id[:]), Index: int32(st.index)}, nil
}

func (t *Tracker) start(visitor, eventID string, at int64, index uint32) Assignment {
	st := state{id: sessionID(visitor, eventID), index: index, start: at, last: at}
	t.dirty[visitor] = st
	return Assignment{ID: hex.EncodeToString(st.id[:]), Index: int32(index), New: true}
}

func (t *Tracker) get(visitor string) (state, bool, error) {
	if st, ok := t.dirty[visitor]; ok {
		return st, true, nil
	}
	b, ok := t.store.Get(visitor)
	if !ok {
		return state{}, false, nil
	}
	st, err := decode(b)
	if err != nil {
		return state{}, false, err
	}
	return st, true, nil
}

// Flush writes the sessions changed since the last Flush to the store.
func (t *Tracker) Flush() {
	for v, st := range t.dirty {
		t.store.Put(v, st.encode())
	}
	clear(t.dirty)
}

// Pending returns how many visitors have unflushed changes.
func (t *Tracker) Pending() int { return len(t.dirty) }

// Forget removes a visitor's session state (erasure, issue 7).
func (t *Tracker) Forget(visitor string) {
	delete(t.dirty, visitor)
	t.store.Delete(visitor)
}

// sessionID hashes the visitor and the id of the session's first event.
func sessionID(visitor, eventID string) [16]byte {
	h := sha256.New()
	h.Write([]byte(visitor))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	var sum [32]byte
	var id [16]byte
	copy(id[:], h.Sum(sum[:0]))
	return id
}
