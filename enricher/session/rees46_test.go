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

	tr := NewTracker(stream.NewTestStore("sessions"), gap)
	ids := map[string]bool{}
	started := 0
	for i, r := range rows {
		a, err := tr.Assign(r.UserID, r.MessageID, r.EventTime.UnixMilli())
		require.NoError(t, err)
		require.False(t, a.Late)
		ids[a.ID] = true
		if a.New {
			started++
		}
		if i%500 == 0 {
			tr.Flush()
		}
	}
	require.Equal(t, 4518, started)
	require.Len(t, ids, 4518)
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
// to 10 minutes late, give the same 4,518 sessions. (Out-of-order events
// within 10 minutes of each other cannot bridge a 30-minute gap, so no
// merge is needed here; merging sessions that a much later event bridges
// is not built yet.)
func TestREES46SessionsShuffled(t *testing.T) {
	rows, err := replay.ReadCSV(shareddata.Path(t, "clickstream/rees46-multicategory/2019-Oct-head17k.csv"))
	require.NoError(t, err)
	rows = shuffleWithin(rows, 10*time.Minute)
	tr := NewTracker(stream.NewTestStore("sessions"), 30*time.Minute)
	ids := map[string]bool{}
	late := 0
	for _, r := range rows {
		a, err := tr.Assign(r.UserID, r.MessageID, r.EventTime.UnixMilli())
		require.NoError(t, err)
		ids[a.ID] = true
		if a.Late {
			late++
		}
	}
	require.Zero(t, late)
	require.Len(t, ids, 4518)
}
