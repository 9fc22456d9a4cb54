package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

func ev(id, name string, received int64) *schemas.RawEvent {
	return &schemas.RawEvent{EventID: id, Source: "web", Type: "track", Event: name, AnonymousID: "a1", Timestamp: 1000, ReceivedAt: received}
}

func TestVerdicts(t *testing.T) {
	f := NewFilter(stream.NewTestStore("dedup"), 24*time.Hour)
	require.Equal(t, New, f.Check(ev("m1", "Product Added", 1)))
	require.Equal(t, Duplicate, f.Check(ev("m1", "Product Added", 2)), "a retry is a duplicate")
	noTimestamp := ev("m1", "Product Added", 6)
	noTimestamp.Timestamp = 6 // sent without one: the collector filled in the receipt time
	require.Equal(t, Duplicate, f.Check(noTimestamp), "a retry of an event sent without a timestamp is a duplicate")
	require.Equal(t, Conflict, f.Check(ev("m1", "Order Completed", 3)), "another event with the same id is a conflict")
	require.Equal(t, New, f.Check(ev("m2", "Product Added", 4)))
	other := ev("m1", "Product Added", 5)
	other.Source = "app"
	require.Equal(t, New, f.Check(other), "ids are per source")
}

func TestStateSurvivesRestore(t *testing.T) {
	s := stream.NewTestStore("dedup")
	f := NewFilter(s, time.Hour)
	require.Equal(t, New, f.Check(ev("m1", "x", 1000)))
	restored := stream.NewTestStore("dedup")
	restored.Restore(s.Changelog()...)
	f2 := NewFilter(restored, time.Hour)
	require.Equal(t, Duplicate, f2.Check(ev("m1", "x", 2000)))
}

func TestExpiryWritesTombstones(t *testing.T) {
	s := stream.NewTestStore("dedup")
	f := NewFilter(s, time.Hour)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, New, f.Check(ev("old", "x", base.UnixMilli())))
	require.Equal(t, New, f.Check(ev("new", "x", base.Add(50*time.Minute).UnixMilli())))
	s.Changelog()
	require.Equal(t, 1, f.Expire(base.Add(61*time.Minute)))
	cl := s.Changelog()
	require.Len(t, cl, 1)
	require.Nil(t, cl[0].Value, "tombstone")
	require.Equal(t, New, f.Check(ev("old", "x", base.Add(62*time.Minute).UnixMilli())), "forgotten after the window")
	require.Equal(t, Duplicate, f.Check(ev("new", "x", base.Add(62*time.Minute).UnixMilli())))
}
