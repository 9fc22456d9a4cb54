package sink

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestCopiesOfAnEventAreDropped(t *testing.T) {
	e := newEnv(t, nil)
	tk := e.task(testTopics.Enriched, 0)
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	recs := eventRecords(t, e.serde, 0, 0, 3, base, time.Second)
	// The enricher emitted event 1 again at offset 3 (a split transaction).
	again := testEvent(1, base.Add(time.Second))
	recs = append(recs, rec(testTopics.Enriched, 0, 3, encode(t, e.serde, schemas.KindEnriched, again)))
	e.process(tk, recs...)
	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(4), tk.DurableOffset(), "the copy's offset is done too")
	require.Equal(t, []string{"evt-000000", "evt-000001", "evt-000002"}, eventIDs(e.events()))
	require.Equal(t, 1.0, metricValue(t, e.sink.metrics.duplicates))
}

func TestRecentIDsIsBounded(t *testing.T) {
	r := newRecentIDs(2)
	require.False(t, r.seen("a"))
	require.False(t, r.seen("b"))
	require.True(t, r.seen("a"))
	require.False(t, r.seen("c")) // evicts a
	require.False(t, r.seen("a"))
	require.Len(t, r.set, 2)
	require.False(t, newRecentIDs(0).seen("a"), "disabled")
}
