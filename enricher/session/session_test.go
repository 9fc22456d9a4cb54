package session

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
)

const minute = int64(time.Minute / time.Millisecond)

// t0 is an arbitrary event time (2019-10-01T00:00:00Z).
const t0 = int64(1569888000000)

type ev struct {
	visitor  string
	id       string
	min      int64 // minutes after t0
	campaign string
	// expectations
	index    int32
	session  string // label: events with the same label share a session id
	isNew    bool
	late     bool
	inserted bool
	merged   string // label of the session this event merged into its own
}

// run assigns evs in order and checks each assignment. A merge makes the
// absorbed label an alias of the surviving session's id.
func run(t *testing.T, tr *Tracker, evs []ev, labels map[string]string) {
	t.Helper()
	for i, e := range evs {
		a, err := tr.Assign(e.visitor, e.id, t0+e.min*minute, e.campaign)
		require.NoError(t, err)
		require.Equal(t, e.index, a.Index, "index of event %d (%s)", i, e.id)
		require.Equal(t, e.isNew, a.New, "new flag of event %d (%s)", i, e.id)
		require.Equal(t, e.late, a.Late, "late flag of event %d (%s)", i, e.id)
		require.Equal(t, e.inserted, a.Inserted, "inserted flag of event %d (%s)", i, e.id)
		require.Len(t, a.ID, 32)
		if prev, ok := labels[e.session]; ok {
			require.Equal(t, prev, a.ID, "event %d (%s) should be in session %s", i, e.id, e.session)
		} else {
			for l, id := range labels {
				require.NotEqual(t, id, a.ID, "event %d (%s) reuses session %s", i, e.id, l)
			}
			labels[e.session] = a.ID
		}
		if e.merged == "" {
			require.Nil(t, a.Corrections, "event %d (%s) merges nothing", i, e.id)
		} else {
			require.Equal(t, []Correction{{
				Visitor: e.visitor, From: labels[e.merged], Into: a.ID,
				FromIndex: e.index + 1, IntoIndex: e.index,
			}}, a.Corrections, "correction of event %d (%s)", i, e.id)
			labels[e.merged] = a.ID
		}
		if i%3 == 2 {
			tr.Flush() // flushing at batch boundaries must not change answers
		}
	}
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		evs  []ev
	}{
		{"gap of more than 30 minutes starts a new session", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 10, "", 1, "A", false, false, false, ""},
			{"v", "e3", 40, "", 1, "A", false, false, false, ""}, // exactly 30 min after e2: same session
			{"v", "e4", 71, "", 2, "B", true, false, false, ""},  // 31 min after e3
			{"v", "e5", 72, "", 2, "B", false, false, false, ""},
		}},
		{"visitors are independent", Options{}, []ev{
			{"v1", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v2", "e2", 1, "", 1, "B", true, false, false, ""},
			{"v1", "e3", 2, "", 1, "A", false, false, false, ""},
			{"v2", "e4", 100, "", 2, "C", true, false, false, ""},
			{"v1", "e5", 20, "", 1, "A", false, false, false, ""},
		}},
		{"out of order inside the session", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 20, "", 1, "A", false, false, false, ""},
			{"v", "e3", 5, "", 1, "A", false, false, false, ""},
		}},
		{"out of order within the gap before the session extends it back", Options{}, []ev{
			{"v", "e1", 60, "", 1, "A", true, false, false, ""},
			{"v", "e2", 35, "", 1, "A", false, false, false, ""}, // 25 min before start
			{"v", "e3", 10, "", 1, "A", false, false, false, ""}, // 25 min before the new start
			{"v", "e4", 90, "", 1, "A", false, false, false, ""}, // 30 min after the latest
		}},
		{"a session extends at both ends", Options{}, []ev{
			{"v", "e1", 100, "", 1, "A", true, false, false, ""},
			{"v", "e2", 70, "", 1, "A", false, false, false, ""},  // exactly the gap before
			{"v", "e3", 130, "", 1, "A", false, false, false, ""}, // exactly the gap after
			{"v", "e4", 41, "", 1, "A", false, false, false, ""},
			{"v", "e5", 160, "", 1, "A", false, false, false, ""},
			{"v", "e6", 10, "", 1, "B", true, false, true, ""},    // 31 before: a session before A
			{"v", "e7", 191, "", 3, "C", true, false, false, ""},  // 31 after: a new session
			{"v", "e8", 40, "", 1, "B", false, false, false, "A"}, // closes the gap: B absorbs A
		}},
		{"the session end moves with the latest event only", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 25, "", 1, "A", false, false, false, ""},
			{"v", "e3", 10, "", 1, "A", false, false, false, ""},
			{"v", "e4", 56, "", 2, "B", true, false, false, ""}, // 31 min after e2, the latest
		}},
		{"late within the bound but beyond the gap starts a session before", Options{}, []ev{
			{"v", "e1", 100, "", 1, "A", true, false, false, ""},
			{"v", "e2", 69, "", 1, "L", true, false, true, ""}, // 31 min before start: A becomes 2
			{"v", "e3", 68, "", 1, "L", false, false, false, ""},
			{"v", "e4", 101, "", 2, "A", false, false, false, ""},
			{"v", "e5", 200, "", 3, "B", true, false, false, ""},
			{"v", "e6", 150, "", 3, "M", true, false, true, ""}, // between A and B, 49 and 50 away
			{"v", "e7", 201, "", 4, "B", false, false, false, ""},
		}},
		{"an event closing the gap merges the later session into the earlier", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 50, "", 2, "B", true, false, false, ""},
			{"v", "e3", 100, "", 3, "C", true, false, false, ""},
			{"v", "e4", 25, "", 1, "A", false, false, false, "B"}, // 25 after A, 25 before B
			{"v", "e5", 101, "", 2, "C", false, false, false, ""}, // C's index fell by one
			{"v", "e6", 51, "", 1, "A", false, false, false, ""},  // B's events are A's now
			{"v", "e7", 75, "", 1, "A", false, false, false, "C"}, // and again
			{"v", "e8", 102, "", 1, "A", false, false, false, ""},
		}},
		{"a new campaign starts a session; no campaign never does", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 5, "x", 2, "B", true, false, false, ""}, // first campaign after none
			{"v", "e3", 10, "", 2, "B", false, false, false, ""},
			{"v", "e4", 15, "x", 2, "B", false, false, false, ""},
			{"v", "e5", 15, "y", 3, "C", true, false, false, ""}, // same instant, other campaign
			{"v", "e6", 60, "y", 4, "D", true, false, false, ""}, // inactivity still ends it
			{"v", "e7", 61, "", 4, "D", false, false, false, ""},
		}},
		{"out of order: a campaign event inside a session joins it", Options{}, []ev{
			{"v", "e1", 0, "x", 1, "A", true, false, false, ""},
			{"v", "e2", 20, "x", 1, "A", false, false, false, ""},
			{"v", "e3", 10, "y", 1, "A", false, false, false, ""},
			{"v", "e4", 20, "y", 2, "B", true, false, false, ""}, // at A's last: after A
		}},
		{"out of order: no campaign bridges into a session without one", Options{}, []ev{
			{"v", "e1", 0, "x", 1, "A", true, false, false, ""},
			{"v", "e2", 50, "", 2, "B", true, false, false, ""},
			{"v", "e3", 25, "", 1, "A", false, false, false, "B"},
		}},
		{"out of order: a session begun by another campaign is not merged", Options{}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 50, "y", 2, "B", true, false, false, ""},
			{"v", "e3", 25, "", 1, "A", false, false, false, ""},  // joins A only
			{"v", "e4", 26, "y", 2, "B", false, false, false, ""}, // not A's campaign: B's start moves back
			{"v", "e5", 0, "z", 1, "A", false, false, false, ""},  // inside A
		}},
		{"out of order: a third campaign between two sessions gets its own", Options{}, []ev{
			{"v", "e1", 0, "x", 1, "A", true, false, false, ""},
			{"v", "e2", 50, "x", 2, "B", true, false, false, ""},
			{"v", "e3", 25, "z", 2, "Z", true, false, true, ""},
			{"v", "e4", 51, "", 3, "B", false, false, false, ""},
		}},
		{"beyond the lateness bound: a session of its own, state untouched", Options{Lateness: time.Hour}, []ev{
			{"v", "e1", 200, "", 1, "A", true, false, false, ""},
			{"v", "e2", 139, "", 0, "L1", false, true, false, ""}, // 61 min before the latest
			{"v", "e3", 139, "", 0, "L2", false, true, false, ""},
			{"v", "e4", 140, "", 1, "B", true, false, true, ""}, // exactly the bound: in
			{"v", "e5", 201, "", 2, "A", false, false, false, ""},
			{"v", "e6", 400, "", 3, "C", true, false, false, ""}, // A and B fall out of reach
			{"v", "e7", 371, "", 3, "C", false, false, false, ""},
			{"v", "e8", 339, "", 0, "L3", false, true, false, ""},
		}},
		{"sessions dropped for MaxSessions make events that reach them late", Options{MaxSessions: 2}, []ev{
			{"v", "e1", 0, "", 1, "A", true, false, false, ""},
			{"v", "e2", 100, "", 2, "B", true, false, false, ""},
			{"v", "e3", 200, "", 3, "C", true, false, false, ""}, // A dropped: horizon 30
			{"v", "e4", 30, "", 0, "L1", false, true, false, ""},
			{"v", "e5", 31, "", 2, "N", true, false, true, ""},   // before B; dropped at once
			{"v", "e6", 60, "", 0, "L2", false, true, false, ""}, // horizon 61
			{"v", "e7", 70, "", 3, "B", false, false, false, ""}, // B's index rose
			{"v", "e8", 201, "", 4, "C", false, false, false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute, tt.opts)
			run(t, tr, tt.evs, map[string]string{})
		})
	}
}

func TestSessionIDIsDeterministic(t *testing.T) {
	a := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute, Options{})
	b := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute, Options{})
	x, err := a.Assign("visitor", "event-1", t0, "")
	require.NoError(t, err)
	y, err := b.Assign("visitor", "event-1", t0+5*minute, "")
	require.NoError(t, err)
	require.Equal(t, x.ID, y.ID, "same visitor and first event give the same id")
	z, err := b.Assign("visitor2", "event-1", t0, "")
	require.NoError(t, err)
	require.NotEqual(t, x.ID, z.ID)
}

func TestFlushCoalescesWrites(t *testing.T) {
	store := stream.NewTestStore("sessions")
	tr := NewTracker(store, 30*time.Minute, Options{})
	for i := range 50 {
		_, err := tr.Assign("v", fmt.Sprintf("e%d", i), t0+int64(i)*1000, "")
		require.NoError(t, err)
	}
	_, err := tr.Assign("w", "x", t0, "")
	require.NoError(t, err)
	require.Equal(t, 2, tr.Pending())
	require.Empty(t, store.Changelog(), "nothing written before Flush")
	tr.Flush()
	require.Len(t, store.Changelog(), 2, "one changelog record per visitor per flush")
	require.Zero(t, tr.Pending())

	// An event inside the session changes nothing and writes nothing.
	_, err = tr.Assign("v", "inside", t0+1000, "")
	require.NoError(t, err)
	tr.Flush()
	require.Empty(t, store.Changelog())
}

// restartStream is event i of the stream TestRestoreFromChangelog replays:
// four visitors, each event 44 minutes after the visitor's previous one
// (so a new session each time), every sixth 70 minutes early (inserting
// sessions and merging them), and some with campaigns.
func restartStream(i int) (visitor, id string, at int64, campaign string) {
	visitors := []string{"a", "b", "c", "d"}
	at = t0 + int64(i)*11*minute
	if i%6 == 0 {
		at -= 70 * minute
	}
	switch {
	case i%9 == 0:
		campaign = "spring"
	case i%13 == 0:
		campaign = "fall"
	}
	return visitors[i%len(visitors)], fmt.Sprintf("e%d", i), at, campaign
}

// TestRestoreFromChangelog replays a store's changelog into a fresh store, as
// the runner does after a restart, and checks the restored tracker answers
// exactly as the original one, merges, insertions and dropped sessions
// included.
func TestRestoreFromChangelog(t *testing.T) {
	opts := Options{Lateness: 3 * time.Hour, MaxSessions: 4}
	orig := stream.NewTestStore("sessions")
	tr := NewTracker(orig, 30*time.Minute, opts)
	for i := range 60 {
		v, id, at, c := restartStream(i)
		_, err := tr.Assign(v, id, at, c)
		require.NoError(t, err)
		if i%5 == 4 {
			tr.Flush()
		}
	}
	tr.Flush()
	tr.Forget("d")

	restored := stream.NewTestStore("sessions")
	restored.Restore(orig.Changelog()...)
	require.Equal(t, orig.Len(), restored.Len())
	tr2 := NewTracker(restored, 30*time.Minute, opts)
	_, found := restored.Get("d")
	require.False(t, found, "forgotten visitor's state is tombstoned")

	var merged, inserted, late int
	for i := 60; i < 160; i++ {
		v, id, at, c := restartStream(i)
		want, err := tr.Assign(v, id, at, c)
		require.NoError(t, err)
		got, err := tr2.Assign(v, id, at, c)
		require.NoError(t, err)
		require.Equal(t, want, got, "event %d", i)
		merged += len(got.Corrections)
		if got.Inserted {
			inserted++
		}
		if got.Late {
			late++
		}
		if i%7 == 0 {
			tr.Flush()
		}
		if i%3 == 0 {
			tr2.Flush()
		}
	}
	require.Positive(t, merged, "the stream merges sessions")
	require.Positive(t, inserted, "the stream inserts sessions")
}

func TestCorruptStateStartsANewSession(t *testing.T) {
	store := stream.NewTestStore("sessions")
	store.Put("v", []byte{9, 9, 9})
	tr := NewTracker(store, 30*time.Minute, Options{})
	a, err := tr.Assign("v", "e1", t0, "")
	require.ErrorIs(t, err, errCorrupt)
	require.True(t, a.New)
	require.Equal(t, int32(1), a.Index)
	tr.Flush()
	b, err := tr.Assign("v", "e2", t0+minute, "")
	require.NoError(t, err, "the corrupt value was replaced")
	require.Equal(t, a.ID, b.ID)
}

func TestSessionIDIsStable(t *testing.T) {
	// The ids of the previous release: sha256("v\x00e1")[:16] (computed with
	// sha256sum), and the same rule for long inputs.
	id := sessionID("v", "e1")
	require.Equal(t, "5c684f03259138f8969506124d585b63", hex.EncodeToString(id[:]))
	long := strings.Repeat("x", 300)
	sum := sha256.Sum256([]byte(long + "\x00" + long))
	id = sessionID(long, long)
	require.Equal(t, sum[:16], id[:])
}
