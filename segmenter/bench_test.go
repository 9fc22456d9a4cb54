package segmenter

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// BenchmarkSegmenter measures one partition's task on a realistic mix with
// the demo segments: 90% page views, 5% carts, 3% orders, 2% sign-ups over
// 10,000 profiles, event time advancing 100ms per event, a tick every 1,000
// records. It includes decoding the Avro records.
func BenchmarkSegmenter(b *testing.B) {
	b.Run("avro", func(b *testing.B) { benchSegmenter(b, false) })
	// Without decoding: the segment evaluation, state and emission alone.
	b.Run("decoded", func(b *testing.B) { benchSegmenter(b, true) })
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

func benchSegmenter(b *testing.B, decoded bool) {
	h := newHarness(b, DefaultConfig(), "")
	const n = 20_000
	recs := make([]*kgo.Record, n)
	evs := make([]*schemas.EnrichedEvent, n)
	for i := range recs {
		profile := "user-" + strconv.Itoa(i*7919%10_000)
		when := at(time.Duration(i) * 100 * time.Millisecond)
		ev := h.event(profile, "page", "", when)
		switch i % 100 {
		case 1, 2, 3, 4, 5:
			ev = h.event(profile, "track", "Product Added", when, props(`{"product_id":"p1","price":12.5}`))
		case 6, 7, 8:
			ev = h.event(profile, "track", "Order Completed", when, props(`{"total":40}`))
		case 9, 10:
			ev = h.event(profile, "identify", "", when, traits(`{"email":"x@example.com"}`))
		}
		ev.Raw.PageURL, ev.Raw.PagePath = "https://shop.example/p/1", "/p/1"
		ev.Raw.PropertiesJSON = `{"product_id":"p1","price":12.5,"category":"shoes"}`
		recs[i], evs[i] = h.record(ev), ev
	}
	var out stream.Output
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
			out = stream.Output{}
			h.store.Changelog()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
