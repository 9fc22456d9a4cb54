package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collector's Prometheus metrics. Labels are bounded:
// reasons and endpoints are fixed sets, never ids or write keys.
type metrics struct {
	accepted        prometheus.Counter
	refused         *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	produceDuration prometheus.Histogram
	spooled         prometheus.Counter
	replayed        prometheus.Counter
	replaySkipped   prometheus.Counter
	spoolSwitches   prometheus.Counter
	consentErrors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_collector_events_accepted_total",
			Help: "Events acknowledged to clients: Kafka acknowledged them, or the spool fsynced them.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_collector_events_refused_total",
			Help: "Events refused, by reason; a request whose events cannot be counted (e.g. malformed JSON) counts as one.",
		}, []string{"reason"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sillage_collector_request_duration_seconds",
			Help:    "Time to answer a request, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		produceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sillage_collector_produce_duration_seconds",
			Help:    "Time from producing a request's events to Kafka's acknowledgement of all of them (or the failure).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_collector_spool_events_written_total",
			Help: "Events written to the spool (Kafka unreachable or slower than spool.after).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_collector_spool_events_replayed_total",
			Help: "Spooled events produced to Kafka by the replay.",
		}),
		replaySkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_collector_spool_events_already_in_kafka_total",
			Help: "Spooled events the replay found already in Kafka (their first produce had succeeded) and did not produce again.",
		}),
		spoolSwitches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_collector_spool_activations_total",
			Help: "Times the collector switched from producing directly to spooling.",
		}),
		consentErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_collector_consent_errors_total",
			Help: "Malformed consent signals of accepted events, by signal (tcf, gcs); each such event was kept with necessary consent only from that signal.",
		}, []string{"signal"}),
	}
	for _, s := range []string{"tcf", "gcs"} {
		m.consentErrors.WithLabelValues(s)
	}
	for _, c := range []prometheus.Collector{m.accepted, m.refused, m.requestDuration, m.produceDuration,
		m.spooled, m.replayed, m.replaySkipped, m.spoolSwitches, m.consentErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) refuse(e *apiError) {
	n := e.events
	if n < 1 {
		n = 1
	}
	m.refused.WithLabelValues(e.reason).Add(float64(n))
}
