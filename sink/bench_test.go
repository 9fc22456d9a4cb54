package sink

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/internal/tests3"
	"github.com/sillage/sillage/schemas"
)

const rees46 = "../../shared/data/clickstream/rees46-multicategory/2019-Oct-head17k.csv"

// rees46Events turns the REES46 sample into enriched events shaped like
// the replay tool and the enricher make them.
func rees46Events(tb testing.TB) []*schemas.EnrichedEvent {
	tb.Helper()
	f, err := os.Open(rees46)
	if err != nil {
		tb.Skipf("REES46 sample not available: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	_, err = r.Read() // header
	require.NoError(tb, err)
	var out []*schemas.EnrichedEvent
	for i := 0; ; i++ {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(tb, err)
		at, err := time.Parse("2006-01-02 15:04:05 MST", row[0])
		require.NoError(tb, err)
		name := map[string]string{"view": "Product Viewed", "cart": "Product Added", "purchase": "Order Completed"}[row[1]]
		props := fmt.Sprintf(`{"product_id":%q,"category_id":%q,"category":%q,"brand":%q,"price":%s,"currency":"USD"}`,
			row[2], row[3], row[4], row[5], row[6])
		if row[1] == "purchase" {
			props = fmt.Sprintf(`{"order_id":"%s-%d","product_id":%q,"price":%s,"revenue":%s,"currency":"USD"}`, row[8], i, row[2], row[6], row[6])
		}
		ms := at.UnixMilli()
		out = append(out, &schemas.EnrichedEvent{
			Raw: schemas.RawEvent{
				EventID: uuid.NewString(), Source: "rees46-replay", Type: "track", Event: name,
				AnonymousID: "anon-" + row[7], UserID: row[7],
				Timestamp: ms, SentAt: ms, ReceivedAt: ms + 120,
				IP:             "203.0.113." + strconv.Itoa(i%250),
				UserAgent:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
				PageURL:        "https://shop.example/product/" + row[2],
				PagePath:       "/product/" + row[2],
				LibraryName:    "sillage-replay",
				LibraryVersion: "0.1.0",
				PropertiesJSON: props,
				Consent:        schemas.Consent{Necessary: true, Analytics: true},
				ConsentSignal:  schemas.ConsentSignal{Origin: "tag"},
			},
			ProfileID: row[7], EventTime: ms, SessionID: row[8], SessionIndex: 1,
			UA:         schemas.UserAgent{Browser: "Chrome", BrowserVersion: "126.0", OS: "Windows", OSVersion: "10", Device: "Other"},
			EnrichedAt: ms + 150,
		})
	}
	return out
}

func rees46Records(tb testing.TB, serde *schemas.Serde) []*kgo.Record {
	events := rees46Events(tb)
	recs := make([]*kgo.Record, len(events))
	for i, ev := range events {
		recs[i] = &kgo.Record{Topic: testTopics.Enriched, Value: encode(tb, serde, schemas.KindEnriched, ev)}
	}
	return recs
}

// BenchmarkWriteEvents measures the whole per-record path: Avro decode,
// flattening, Parquet+zstd encoding and durable file writes (100k-row files).
func BenchmarkWriteEvents(b *testing.B) {
	// The records cycle when b.N exceeds the sample: the same event ids
	// come again, which the duplicate filter would drop.
	benchWriteEvents(b, newEnv(b, func(c *Config) { c.DedupEvents = 0 }))
}

// BenchmarkWriteEventsS3 is BenchmarkWriteEvents into a real S3 server
// (versitygw on loopback, started for the benchmark). rows/cpu-s counts
// this process's CPU only, not the server's.
func BenchmarkWriteEventsS3(b *testing.B) {
	srv := tests3.Private(b)
	store, err := OpenStore(srv.Root(srv.Bucket(b), "lake"))
	require.NoError(b, err)
	benchWriteEvents(b, newEnvOn(b, b.TempDir(), store, newTestSerde(b), func(c *Config) { c.DedupEvents = 0 }))
}

func benchWriteEvents(b *testing.B, e *testEnv) {
	recs := rees46Records(b, e.serde)
	tk := e.task(testTopics.Enriched, 0)
	ctx := context.Background()
	out := &stream.Output{}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		r := *recs[i%len(recs)]
		r.Offset = int64(i)
		if err := tk.Process(ctx, &r, out); err != nil {
			b.Fatal(err)
		}
	}
	if err := tk.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	reportLake(b, e)
}

// BenchmarkEncodeEvents measures Parquet+zstd encoding of flattened rows
// alone (no Avro decoding, no file writes).
func BenchmarkEncodeEvents(b *testing.B) {
	events := rees46Events(b)
	rows := make([]EventRow, len(events))
	for i, ev := range events {
		rows[i] = eventRow(ev)
	}
	c, _ := codec("zstd")
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	cpu0 := cpuTime(b)
	w := newRowWriter[EventRow](c)
	for i := 0; i < b.N; i++ {
		w.add(rows[i%len(rows)], int64(i))
		if w.rows() == 100_000 {
			data, err := w.finish(nil)
			if err != nil {
				b.Fatal(err)
			}
			size += len(data)
			w = newRowWriter[EventRow](c)
		}
	}
	data, err := w.finish(nil)
	if err != nil {
		b.Fatal(err)
	}
	size += len(data)
	b.StopTimer()
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size)/float64(b.N), "bytes/row")
}

func reportLake(b *testing.B, e *testEnv) {
	b.Helper()
	rows := metricValue(b, e.sink.metrics.rowsWritten.WithLabelValues(TableEvents))
	if int(rows) != b.N {
		b.Fatalf("wrote %v rows, want %d", rows, b.N)
	}
	bytes := metricValue(b, e.sink.metrics.bytesWritten)
	files := metricValue(b, e.sink.metrics.filesWritten.WithLabelValues(TableEvents))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(bytes/rows, "bytes/row")
	b.ReportMetric(bytes/files, "bytes/file")
}

// cpuTime is the CPU time (user + system, all threads) used so far: on a
// shared machine it measures cost per core better than the wall clock.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports rows per CPU-second: rows/s per core.
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(b.N)/(cpuTime(b)-since).Seconds(), "rows/cpu-s")
}

// BenchmarkDecodeEnriched measures the Avro decoding (schemas.Serde) that
// precedes every event row, to show where the per-record cost goes.
func BenchmarkDecodeEnriched(b *testing.B) {
	serde := newTestSerde(b)
	recs := rees46Records(b, serde)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		if _, err := serde.DecodeEnriched(ctx, recs[i%len(recs)].Value); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCPU(b, cpu0)
}
