package stream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
)

type metrics struct {
	recordsIn       prometheus.Counter
	recordsOut      prometheus.Counter
	aborts          prometheus.Counter
	fetchErrors     prometheus.Counter
	commitErrors    prometheus.Counter
	restoredRecords prometheus.Counter
	batchSeconds    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, stage string) (*metrics, error) {
	labels := prometheus.Labels{"stage": stage}
	m := &metrics{
		recordsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_records_in_total",
			Help: "Input records handed to tasks.", ConstLabels: labels}),
		recordsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_records_out_total",
			Help: "Records produced by tasks and committed.", ConstLabels: labels}),
		aborts: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_transaction_aborts_total",
			Help: "Transactions aborted (rebalance, fencing, produce error); tasks were rebuilt.", ConstLabels: labels}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_fetch_errors_total",
			Help: "Errors returned by fetches.", ConstLabels: labels}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_commit_errors_total",
			Help: "Offset commits that failed (retried on the next batch).", ConstLabels: labels}),
		restoredRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_stream_restored_records_total",
			Help: "Changelog records applied while restoring state stores.", ConstLabels: labels}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sillage_stream_batch_duration_seconds",
			Help: "Time to process and commit one polled batch.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	for _, c := range []prometheus.Collector{m.recordsIn, m.recordsOut, m.aborts, m.fetchErrors, m.commitErrors, m.restoredRecords, m.batchSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
