package sink

import (
	"context"
	"testing"

	"github.com/sillage/sillage/internal/stream"
)

// BenchmarkWriteREES46 writes the REES46 replay (17,434 events over three
// hours) once per iteration, as one partition's consumer with the default
// rolling would: Avro decoding, flattening, Parquet+zstd, durable files.
// It reports what the lake holds for the replay: bytes per row and the
// average file size (one file per hour partition), and the write rate in
// rows per CPU-second (rows/s per core). Each iteration reads the sample
// as another partition of the topic, so its files are new ones.
func BenchmarkWriteREES46(b *testing.B) {
	e := newEnv(b, nil)
	recs := rees46Records(b, e.serde)
	ctx := context.Background()
	out := &stream.Output{}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		tk := e.task(testTopics.Enriched, int32(i))
		for off, rec := range recs {
			r := *rec
			r.Partition, r.Offset = int32(i), int64(off)
			if err := tk.Process(ctx, &r, out); err != nil {
				b.Fatal(err)
			}
		}
		if err := tk.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := tk.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rows := float64(b.N * len(recs))
	b.ReportMetric(rows/(cpuTime(b)-cpu0).Seconds(), "rows/cpu-s")
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	if got := metricValue(b, e.sink.metrics.rowsWritten.WithLabelValues(TableEvents)); got != rows {
		b.Fatalf("wrote %v rows, want %v", got, rows)
	}
	bytes := metricValue(b, e.sink.metrics.bytesWritten)
	files := metricValue(b, e.sink.metrics.filesWritten.WithLabelValues(TableEvents))
	b.ReportMetric(bytes/rows, "bytes/row")
	b.ReportMetric(bytes/files, "bytes/file")
	b.ReportMetric(files/float64(b.N), "files/op")
}
