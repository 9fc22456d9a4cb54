package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/internal/stream"
)

// TestBatchBoundariesDoNotMatter: the assignments depend only on the order
// of the input, not on where Flush cuts batches nor on a restart (a new
// Tracker on the flushed store) between two batches.
func TestBatchBoundariesDoNotMatter(t *testing.T) {
	rows, err := replay.ReadCSV(shareddata.Path(t, "clickstream/rees46-multicategory/2019-Oct-head17k.csv"))
	require.NoError(t, err)
	rows = shuffleWithin(rows, 10*time.Minute)
	run := func(every int, restart bool) []string {
		store := stream.NewTestStore("sessions")
		tr := NewTracker(store, time.Minute, Options{})
		out := make([]string, 0, len(rows))
		for i, row := range rows {
			a, err := tr.Assign(row.UserID, row.MessageID, row.EventTime.UnixMilli(), "")
			require.NoError(t, err)
			out = append(out, fmt.Sprintf("%s #%d new=%v ins=%v late=%v %v", a.ID, a.Index, a.New, a.Inserted, a.Late, a.Corrections))
			if every > 0 && i%every == every-1 {
				tr.Flush()
				if restart {
					tr = NewTracker(store, time.Minute, Options{})
				}
			}
		}
		return out
	}
	want := run(0, false)
	for _, c := range []struct {
		every   int
		restart bool
	}{{1, false}, {7, false}, {500, false}, {1, true}, {13, true}, {500, true}} {
		got := run(c.every, c.restart)
		for i := range want {
			require.Equal(t, want[i], got[i], "flush every %d (restart %v): row %d (%s, user %s)", c.every, c.restart, i, rows[i].MessageID, rows[i].UserID)
		}
	}
}
