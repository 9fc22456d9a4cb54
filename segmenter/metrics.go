package segmenter

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	eventsIn        prometheus.Counter
	ignored         *prometheus.CounterVec
	failed          prometheus.Counter
	late            prometheus.Counter
	replayed        prometheus.Counter
	transitions     *prometheus.CounterVec
	predicateErrors *prometheus.CounterVec
	timersPending   prometheus.Gauge
	profiles        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		eventsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_segmenter_events_in_total", Help: "Enriched records read.",
		}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_segmenter_events_ignored_total",
			Help: "Events that build no profile state, by reason (bot, no_consent, no_profile, duplicate: an event id the profile applied already).",
		}, []string{"reason"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_segmenter_events_failed_total", Help: "Records that could not be decoded, sent to the failed topic.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_segmenter_late_events_total", Help: "Events older than their partition's watermark on arrival.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_segmenter_records_skipped_total", Help: "Records skipped because their offset was already applied.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_segmenter_transitions_total", Help: "Membership transitions emitted.",
		}, []string{"segment", "transition"}),
		predicateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_segmenter_predicate_errors_total", Help: "Predicate evaluations that failed (counted as no match).",
		}, []string{"segment"}),
		timersPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sillage_segmenter_timers_pending", Help: "Absence windows open (timers not yet fired) on this instance.",
		}),
		profiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sillage_segmenter_profiles", Help: "Profiles with segment state on this instance.",
		}),
	}
	for _, c := range []prometheus.Collector{m.eventsIn, m.ignored, m.failed, m.late, m.replayed, m.transitions, m.predicateErrors, m.timersPending, m.profiles} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
