package sink

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rowsWritten    *prometheus.CounterVec
	filesWritten   *prometheus.CounterVec
	bytesWritten   prometheus.Counter
	flushDuration  prometheus.Histogram
	decodeFailures *prometheus.CounterVec
	duplicates     prometheus.Counter
	writeErrors    prometheus.Counter
	storeUp        prometheus.Gauge
	bufferedRows   prometheus.Gauge
	replayedRolls  prometheus.Counter
	abortedUploads prometheus.Counter
	compactedFiles prometheus.Counter
	compactions    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_sink_rows_written_total",
			Help: "Rows durably written to the lake, by table.",
		}, []string{"table"}),
		filesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_sink_files_written_total",
			Help: "Parquet files durably written to the lake, by table.",
		}, []string{"table"}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_bytes_written_total",
			Help: "Bytes of Parquet files durably written to the lake.",
		}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sillage_sink_flush_duration_seconds",
			Help:    "Time to encode and durably write one batch of a partition.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		decodeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_sink_decode_failures_total",
			Help: "Input records that could not be decoded and went to the failed table, by the table they were meant for.",
		}, []string{"table"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_duplicate_events_dropped_total",
			Help: "Events dropped because the same (source, event id) was written by this partition shortly before.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_write_errors_total",
			Help: "Failed object store operations of the lake (writes of files and manifests, listings), each retried.",
		}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sillage_sink_store_up",
			Help: "1 while the lake's object store answers, 0 after a failed operation until one succeeds (the sink then retries and holds consumption).",
		}),
		bufferedRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sillage_sink_buffered_rows",
			Help: "Rows held in memory, not yet durable in the lake.",
		}),
		replayedRolls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_replayed_batches_total",
			Help: "Batches rewritten after a restart along the boundaries of an uncommitted earlier run.",
		}),
		abortedUploads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_incomplete_uploads_removed_total",
			Help: "Leftovers of writes interrupted by a crash removed when a partition's task starts: S3 multipart uploads aborted, local temporary files deleted.",
		}),
		compactedFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_sink_compacted_files_total",
			Help: "Small files merged by compaction (and superseded files it deleted).",
		}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_sink_compactions_total",
			Help: "Compaction runs, by result (ok, error).",
		}, []string{"result"}),
	}
	m.storeUp.Set(1)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rowsWritten, m.filesWritten, m.bytesWritten, m.flushDuration,
		m.decodeFailures, m.duplicates, m.writeErrors, m.storeUp, m.bufferedRows, m.replayedRolls, m.abortedUploads, m.compactedFiles, m.compactions} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("sink metrics are already registered: one sink per registry")
			}
			return nil, err
		}
	}
	for _, t := range Tables {
		m.rowsWritten.WithLabelValues(t)
		m.filesWritten.WithLabelValues(t)
		m.decodeFailures.WithLabelValues(t)
	}
	return m, nil
}
