package session

import (
	"strconv"
	"testing"
	"time"

	"github.com/sillage/sillage/internal/stream"
)

// BenchmarkAssign measures the in-order path: 1,000 visitors whose events
// arrive in event-time order, 200 ms apart overall (so about 200 s apart per
// visitor, inside the session), a one-hour pause every 50,000 events (every
// visitor starts a new session), and a Flush every 500 events as the task
// does at batch boundaries. With a 24-hour lateness bound each visitor
// keeps about seven sessions. The one-session runs never pause: one
// session per visitor, the fixed cost of the path. "assign" leaves the Flush out of the timing and
// the allocation count; "assign+flush" includes it (one encoded record and
// one changelog record per visitor changed in the batch).
func BenchmarkAssign(b *testing.B) {
	b.Run("assign", func(b *testing.B) { benchAssign(b, false, 50000) })
	b.Run("assign+flush", func(b *testing.B) { benchAssign(b, true, 50000) })
	b.Run("one-session/assign", func(b *testing.B) { benchAssign(b, false, 0) })
	b.Run("one-session/assign+flush", func(b *testing.B) { benchAssign(b, true, 0) })
}

// benchAssign pauses an hour every pauseEvery events (never if 0).
func benchAssign(b *testing.B, timeFlush bool, pauseEvery int) {
	const visitors = 1000
	vs := make([]string, visitors)
	for i := range vs {
		vs[i] = "visitor-" + strconv.Itoa(i)
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = "event-" + strconv.Itoa(i)
	}
	store := stream.NewTestStore("sessions")
	tr := NewTracker(store, 30*time.Minute, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	at := t0
	for i := 0; i < b.N; i++ {
		at += 200
		if pauseEvery > 0 && i%pauseEvery == 0 {
			at += int64(time.Hour / time.Millisecond)
		}
		if _, err := tr.Assign(vs[(i*7919)%visitors], ids[i&(1<<16-1)], at, ""); err != nil {
			b.Fatal(err)
		}
		if i%500 == 499 {
			if !timeFlush {
				b.StopTimer()
			}
			tr.Flush()
			store.Changelog() // as the runner takes the batch's records
			if !timeFlush {
				b.StartTimer()
			}
		}
	}
}
