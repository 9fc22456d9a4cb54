package segmenter

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// BenchmarkSegmenter measures one partition's task on a realistic mix with
// the demo segments: 90% page views, 5% carts, 3% orders, 2% sign-ups over
// 10,000 profiles, event time advancing 100ms per event, a tick every 1,000
// records (and the changelog taken, as a commit would). It includes
// decoding the Avro records. Run it as
//
//	go test ./segmenter -run '^$' -bench BenchmarkSegmenter -benchtime 100000x
func BenchmarkSegmenter(b *testing.B) {
	b.Run("avro", func(b *testing.B) { benchSegmenter(b, false, "", false) })
	// Without decoding: the segment evaluation, state and emission alone.
	b.Run("decoded", func(b *testing.B) { benchSegmenter(b, true, "", false) })
	// 20 segments of mixed kinds (testdata/bench20.yaml: event, absence,
	// sliding windows, sequences, in_segments, computed traits), decoding
	// included: issue 5's target is 50,000 events/s. The events come in
	// sessions (see sessionProfile), so that windows and sequences fill.
	mixed, err := os.ReadFile(filepath.Join("testdata", "bench20.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("mixed20", func(b *testing.B) { benchSegmenter(b, false, string(mixed), true) })
	// The Avro decoding alone (schemas.Serde), for comparison.
	b.Run("decode-only", func(b *testing.B) {
		h := newHarness(b, DefaultConfig(), "")
		ev := h.event("user-1", "page", "", at(0), props(`{"product_id":"p1","price":12.5,"category":"shoes"}`))
		rec := h.record(ev)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.serde.DecodeEnriched(ctx, rec.Value); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// sessionProfile spreads events over sessions: 64 sessions run at once,
// each of 10 events 6.4s apart (event time advancing 100ms per event), and
// each session belongs to one of 10,000 profiles, drawn by a hash, so that
// profiles come back in later sessions. The event's kind is drawn by a
// hash too (the same 90/5/3/2 mix).
func sessionProfile(i int) (profile string, kind uint32) {
	slot, round := i%64, i/64
	session := uint32((round/10)*64 + slot)
	return "user-" + strconv.Itoa(int(session*2654435761>>8%10_000)), uint32(i) * 2246822519 >> 12 % 100
}

func benchSegmenter(b *testing.B, decoded bool, defs string, sessions bool) {
	h := newHarness(b, DefaultConfig(), defs)
	// Events are encoded in chunks of n, outside the timing; each event has
	// its own id and event time (the i-th event is at i×100ms), as a
	// repeated id would be skipped as a duplicate.
	const n = 20_000
	recs := make([]*kgo.Record, n)
	evs := make([]*schemas.EnrichedEvent, n)
	fill := func(chunk int) {
		for j := range recs {
			i := chunk*n + j
			profile, kind := "user-"+strconv.Itoa(i*7919%10_000), uint32(i%100)
			if sessions {
				profile, kind = sessionProfile(i)
			}
			when := at(time.Duration(i) * 100 * time.Millisecond)
			ev := h.event(profile, "page", "", when)
			switch kind {
			case 1, 2, 3, 4, 5:
				ev = h.event(profile, "track", "Product Added", when, props(`{"product_id":"p1","price":12.5}`))
			case 6, 7, 8:
				ev = h.event(profile, "track", "Order Completed", when, props(`{"total":40}`))
			case 9, 10:
				ev = h.event(profile, "identify", "", when, traits(`{"email":"x@example.com"}`))
			}
			ev.Raw.PageURL, ev.Raw.PagePath = "https://shop.example/p/1", "/p/1"
			if ev.Raw.PropertiesJSON == "" {
				ev.Raw.PropertiesJSON = `{"product_id":"p1","price":12.5,"category":"shoes"}`
			}
			recs[j], evs[j] = h.record(ev), ev
		}
	}
	fill(0)
	var out stream.Output
	ctx := context.Background()
	b.ReportAllocs()
	transitions := 0
	var cpu time.Duration // of the timed part
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%n == 0 {
			b.StopTimer()
			cpu += processCPU() - cpu0
			fill(i / n)
			cpu0 = processCPU()
			b.StartTimer()
		}
		r := recs[i%n]
		r.Offset = int64(i)
		if decoded {
			if err := h.task.apply(r, evs[i%n], &out, h.now); err != nil {
				b.Fatal(err)
			}
		} else if err := h.task.Process(ctx, r, &out); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			h.now = h.now.Add(10 * time.Millisecond)
			if err := h.task.Tick(ctx, h.now, &out); err != nil {
				b.Fatal(err)
			}
			transitions += out.Len()
			out = stream.Output{}
			h.store.Changelog()
		}
	}
	b.StopTimer()
	cpu += processCPU() - cpu0
	b.ReportMetric(float64(transitions)/float64(b.N), "transitions/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// The same per second of CPU used by the process (all threads, the
	// garbage collector's included): on a machine shared with other
	// work, the wall-clock rate depends on what else runs; this does not.
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
}

// processCPU is the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
