package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
)

type propEvent struct {
	visitor, id string
	at          int64 // event time, Unix ms
	arrival     int64 // when it reaches the tracker
}

// randomStream draws visitors' events in bursts: within a burst events are
// up to 40 minutes apart (so a 30-minute gap sometimes splits them and a
// late event sometimes bridges two), between bursts up to six hours. Each
// event arrives up to lateness after its event time.
func randomStream(rng *rand.Rand, visitors, perVisitor int, lateness time.Duration) []propEvent {
	var evs []propEvent
	for v := range visitors {
		at := t0 + rng.Int64N(int64(time.Hour/time.Millisecond))
		for i := range perVisitor {
			if rng.IntN(10) == 0 {
				at += rng.Int64N(6 * 60 * minute)
			} else {
				at += rng.Int64N(40 * minute)
			}
			evs = append(evs, propEvent{
				visitor: fmt.Sprintf("v%d", v),
				id:      fmt.Sprintf("v%d-e%d", v, i),
				at:      at,
				arrival: at + rng.Int64N(lateness.Milliseconds()+1),
			})
		}
	}
	return evs
}

// TestOrderDoesNotMatter: for random streams, assigning events in event-time
// order or as they arrive (each within the lateness bound, with Flushes and
// a restart from the changelog on the way) gives, after the emitted
// corrections, the same partition of events into sessions and the same
// indexes.
func TestOrderDoesNotMatter(t *testing.T) {
	const gap = 30 * time.Minute
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			lateness := time.Duration(1+rng.IntN(4)) * time.Hour
			opts := Options{Lateness: lateness, MaxSessions: 64}
			evs := randomStream(rng, 1+rng.IntN(8), 50+rng.IntN(150), lateness)

			byTime := slices.Clone(evs)
			slices.SortStableFunc(byTime, func(a, b propEvent) int { return int(a.at - b.at) })
			want := newRelabeler()
			tr := NewTracker(stream.NewTestStore("sessions"), gap, opts)
			for i, e := range byTime {
				a, err := tr.Assign(e.visitor, e.id, e.at, "")
				require.NoError(t, err)
				require.False(t, a.Late || a.Inserted || a.Corrections != nil, "in order: no late event, insertion or merge")
				want.apply(e.visitor, e.id, a)
				if i%17 == 0 {
					tr.Flush()
				}
			}

			byArrival := slices.Clone(evs)
			slices.SortStableFunc(byArrival, func(a, b propEvent) int { return int(a.arrival - b.arrival) })
			got := newRelabeler()
			store := stream.NewTestStore("sessions")
			tr = NewTracker(store, gap, opts)
			restartAt := len(byArrival) / 2
			var merges, inserts int
			for i, e := range byArrival {
				if i == restartAt {
					tr.Flush()
					restored := stream.NewTestStore("sessions")
					restored.Restore(store.Changelog()...)
					store = restored
					tr = NewTracker(store, gap, opts)
				}
				a, err := tr.Assign(e.visitor, e.id, e.at, "")
				require.NoError(t, err)
				require.False(t, a.Late, "event %s arrived within the bound", e.id)
				got.apply(e.visitor, e.id, a)
				merges += len(a.Corrections)
				if a.Inserted {
					inserts++
				}
				if rng.IntN(10) == 0 {
					tr.Flush()
				}
			}
			requireSamePartition(t, want, got)
			t.Logf("%d events, %d sessions, %d merges, %d insertions", len(evs), want.sessions(), merges, inserts)
		})
	}
}
