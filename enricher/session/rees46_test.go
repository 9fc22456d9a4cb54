package session

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/internal/stream"
)

// TestREES46Sessions sessionises the REES46 sample (visitors keyed by
// user_id) in event-time order with a 30-minute inactivity gap: the issue
// fixes the answer at 4,518 sessions. The reference is computed here from
// the rows alone, independently of the tracker.
func TestREES46Sessions(t *testing.T) {
	rows, err := replay.ReadCSV(shareddata.Path(t, "clickstream/rees46-multicategory/2019-Oct-head17k.csv"))
	require.NoError(t, err)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].EventTime.Before(rows[j].EventTime) })

	const gap = 30 * time.Minute
	// Reference: per user, a new session whenever the time since the
	// previous event exceeds the gap.
	last := map[string]time.Time{}
	want := 0
	for _, r := range rows {
		if prev, ok := last[r.UserID]; !ok || r.EventTime.Sub(prev) > gap {
			want++
		}
		last[r.UserID] = r.EventTime
	}
	require.Equal(t, 4518, want, "the reference itself")

	inOrder := sessionise(t, rows, gap)
	require.Equal(t, 4518, inOrder.started)
	require.Equal(t, 4518, inOrder.sessions())
	require.Zero(t, inOrder.corrections+inOrder.inserted+inOrder.late, "in order: no merge, insertion or late event")
}

// rees46Run is the outcome of one pass over the rows.
type rees46Run struct {
	downstream                           *relabeler
	started, corrections, inserted, late int
}

func (r rees46Run) sessions() int { return r.downstream.sessions() }

// sessionise assigns rows in the given order, flushing every 500, and
// applies the corrections as a downstream consumer would.
func sessionise(t *testing.T, rows []replay.Row, gap time.Duration) rees46Run {
	t.Helper()
	tr := NewTracker(stream.NewTestStore("sessions"), gap, Options{})
	r := rees46Run{downstream: newRelabeler()}
	for i, row := range rows {
		a, err := tr.Assign(row.UserID, row.MessageID, row.EventTime.UnixMilli(), "")
		require.NoError(t, err)
		r.downstream.apply(row.UserID, row.MessageID, a)
		if a.New {
			r.started++
		}
		if a.Inserted {
			r.inserted++
		}
		if a.Late {
			r.late++
		}
		r.corrections += len(a.Corrections)
		if i%500 == 0 {
			tr.Flush()
		}
	}
	return r
}

// shuffleWithin reorders rows so that each arrives up to window after its
// event time (a deterministic pseudo-random delay per row).
func shuffleWithin(rows []replay.Row, window time.Duration) []replay.Row {
	out := append([]replay.Row(nil), rows...)
	arrival := make(map[string]time.Time, len(out))
	var x uint64 = 88172645463325252
	for _, r := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		arrival[r.MessageID] = r.EventTime.Add(time.Duration(x % uint64(window)))
	}
	sort.SliceStable(out, func(i, j int) bool { return arrival[out[i].MessageID].Before(arrival[out[j].MessageID]) })
	return out
}

// TestREES46SessionsShuffled: the same rows arriving out of order, each up
// to 10 minutes late, give the same 4,518 sessions, and after the emitted
// corrections every event is in the session (and has the index) of the
// in-order run. Ids may differ: a session's id is that of its first event
// to arrive.
func TestREES46SessionsShuffled(t *testing.T) {
	rows, err := replay.ReadCSV(shareddata.Path(t, "clickstream/rees46-multicategory/2019-Oct-head17k.csv"))
	require.NoError(t, err)
	sorted := append([]replay.Row(nil), rows...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].EventTime.Before(sorted[j].EventTime) })
	inOrder := sessionise(t, sorted, 30*time.Minute)

	shuffled := sessionise(t, shuffleWithin(rows, 10*time.Minute), 30*time.Minute)
	require.Zero(t, shuffled.late)
	require.Equal(t, 4518, shuffled.sessions())
	requireSamePartition(t, inOrder.downstream, shuffled.downstream)
}
