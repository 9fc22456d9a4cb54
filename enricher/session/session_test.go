package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
)

const minute = int64(time.Minute / time.Millisecond)

// t0 is an arbitrary event time (2019-10-01T00:00:00Z).
const t0 = int64(1569888000000)

type ev struct {
	visitor string
	id      string
	min     int64 // minutes after t0
	// expectations
	index   int32
	session string // label: events with the same label share a session id
	isNew   bool
	late    bool
}

func run(t *testing.T, tr *Tracker, evs []ev, labels map[string]string) {
	t.Helper()
	for i, e := range evs {
		a, err := tr.Assign(e.visitor, e.id, t0+e.min*minute)
		require.NoError(t, err)
		require.Equal(t, e.index, a.Index, "index of event %d (%s)", i, e.id)
		require.Equal(t, e.isNew, a.New, "new flag of event %d (%s)", i, e.id)
		require.Equal(t, e.late, a.Late, "late flag of event %d (%s)", i, e.id)
		require.Len(t, a.ID, 32)
		if prev, ok := labels[e.session]; ok {
			require.Equal(t, prev, a.ID, "event %d (%s) should be in session %s", i, e.id, e.session)
		} else {
			for l, id := range labels {
				require.NotEqual(t, id, a.ID, "event %d (%s) reuses session %s", i, e.id, l)
			}
			labels[e.session] = a.ID
		}
		if i%3 == 2 {
			tr.Flush() // flushing at batch boundaries must not change answers
		}
	}
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name string
		evs  []ev
	}{
		{"gap of more than 30 minutes starts a new session", []ev{
			{"v", "e1", 0, 1, "A", true, false},
			{"v", "e2", 10, 1, "A", false, false},
			{"v", "e3", 40, 1, "A", false, false}, // exactly 30 min after e2: same session
			{"v", "e4", 71, 2, "B", true, false},  // 31 min after e3
			{"v", "e5", 72, 2, "B", false, false},
		}},
		{"visitors are independent", []ev{
			{"v1", "e1", 0, 1, "A", true, false},
			{"v2", "e2", 1, 1, "B", true, false},
			{"v1", "e3", 2, 1, "A", false, false},
			{"v2", "e4", 100, 2, "C", true, false},
			{"v1", "e5", 20, 1, "A", false, false},
		}},
		{"out of order inside the session", []ev{
			{"v", "e1", 0, 1, "A", true, false},
			{"v", "e2", 20, 1, "A", false, false},
			{"v", "e3", 5, 1, "A", false, false},
		}},
		{"out of order within the gap before the session extends it back", []ev{
			{"v", "e1", 60, 1, "A", true, false},
			{"v", "e2", 35, 1, "A", false, false}, // 25 min before start
			{"v", "e3", 10, 1, "A", false, false}, // 25 min before the new start
			{"v", "e4", 90, 1, "A", false, false}, // 30 min after the latest
		}},
		{"the session end moves with the latest event only", []ev{
			{"v", "e1", 0, 1, "A", true, false},
			{"v", "e2", 25, 1, "A", false, false},
			{"v", "e3", 10, 1, "A", false, false},
			{"v", "e4", 56, 2, "B", true, false}, // 31 min after e2, the latest
		}},
		{"late beyond the gap gets a session of its own", []ev{
			{"v", "e1", 100, 1, "A", true, false},
			{"v", "e2", 69, 0, "L1", false, true}, // 31 min before start
			{"v", "e3", 68, 0, "L2", false, true},
			{"v", "e4", 101, 1, "A", false, false}, // state untouched
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute)
			run(t, tr, tt.evs, map[string]string{})
		})
	}
}

func TestSessionIDIsDeterministic(t *testing.T) {
	a := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute)
	b := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute)
	x, err := a.Assign("visitor", "event-1", t0)
	require.NoError(t, err)
	y, err := b.Assign("visitor", "event-1", t0+5*minute)
	require.NoError(t, err)
	require.Equal(t, x.ID, y.ID, "same visitor and first event give the same id")
	z, err := b.Assign("visitor2", "event-1", t0)
	require.NoError(t, err)
	require.NotEqual(t, x.ID, z.ID)
}

func TestFlushCoalescesWrites(t *testing.T) {
	store := stream.NewTestStore("sessions")
	tr := NewTracker(store, 30*time.Minute)
	for i := range 50 {
		_, err := tr.Assign("v", fmt.Sprintf("e%d", i), t0+int64(i)*1000)
		require.NoError(t, err)
	}
	_, err := tr.Assign("w", "x", t0)
	require.NoError(t, err)
	require.Equal(t, 2, tr.Pending())
	require.Empty(t, store.Changelog(), "nothing written before Flush")
	tr.Flush()
	require.Len(t, store.Changelog(), 2, "one changelog record per visitor per flush")
	require.Zero(t, tr.Pending())

	// An event inside the session changes nothing and writes nothing.
	_, err = tr.Assign("v", "inside", t0+1000)
	require.NoError(t, err)
	tr.Flush()
	require.Empty(t, store.Changelog())
}

// TestRestoreFromChangelog replays a store's changelog into a fresh store, as
// the runner does after a restart, and checks the restored tracker answers
// exactly as the original one.
func TestRestoreFromChangelog(t *testing.T) {
	orig := stream.NewTestStore("sessions")
	tr := NewTracker(orig, 30*time.Minute)
	visitors := []string{"a", "b", "c", "d"}
	for i := range 40 {
		v := visitors[i%len(visitors)]
		_, err := tr.Assign(v, fmt.Sprintf("e%d", i), t0+int64(i)*7*minute)
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
	tr2 := NewTracker(restored, 30*time.Minute)
	_, found := restored.Get("d")
	require.False(t, found, "forgotten visitor's state is tombstoned")

	for i := 40; i < 80; i++ {
		v := visitors[i%len(visitors)]
		at := t0 + int64(i)*7*minute
		if i%6 == 0 {
			at -= 20 * minute // some out of order
		}
		want, err := tr.Assign(v, fmt.Sprintf("e%d", i), at)
		require.NoError(t, err)
		got, err := tr2.Assign(v, fmt.Sprintf("e%d", i), at)
		require.NoError(t, err)
		require.Equal(t, want, got, "event %d", i)
	}
}

func TestCorruptStateStartsANewSession(t *testing.T) {
	store := stream.NewTestStore("sessions")
	store.Put("v", []byte{9, 9, 9})
	tr := NewTracker(store, 30*time.Minute)
	a, err := tr.Assign("v", "e1", t0)
	require.ErrorIs(t, err, errCorrupt)
	require.True(t, a.New)
	require.Equal(t, int32(1), a.Index)
	tr.Flush()
	b, err := tr.Assign("v", "e2", t0+minute)
	require.NoError(t, err, "the corrupt value was replaced")
	require.Equal(t, a.ID, b.ID)
}

func TestCodec(t *testing.T) {
	for _, s := range []state{
		{id: sessionID("v", "e"), index: 1, start: t0, last: t0},
		{id: sessionID("v", "f"), index: 1 << 20, start: -5000, last: 1 << 50},
		{index: 0, start: 0, last: 0},
	} {
		got, err := decode(s.encode())
		require.NoError(t, err)
		require.Equal(t, s, got)
		require.LessOrEqual(t, len(s.encode()), 40)
	}
	good := state{id: sessionID("v", "e"), index: 3, start: t0, last: t0 + 10}.encode()
	for name, b := range map[string][]byte{
		"empty":         nil,
		"short":         good[:10],
		"version":       append([]byte{2}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing byte": append(append([]byte{}, good...), 0),
	} {
		_, err := decode(b)
		require.ErrorIs(t, err, errCorrupt, name)
	}
}
