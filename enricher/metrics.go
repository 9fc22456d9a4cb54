package enricher

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	in, out          prometheus.Counter
	failed           *prometheus.CounterVec
	geoErrors        prometheus.Counter
	invalidIP        prometheus.Counter
	clamped          prometheus.Counter
	sessionsStarted  prometheus.Counter
	lateEvents       prometheus.Counter
	sessionsInserted prometheus.Counter
	linksWritten     prometheus.Counter
	stateCorrupt     prometheus.Counter
	duplicates       prometheus.Counter
	batchSeconds     prometheus.Histogram
	geoReloads       *prometheus.CounterVec
	bots             *prometheus.CounterVec
	referrers        *prometheus.CounterVec
	clientHints      prometheus.Counter
	corrections      *prometheus.CounterVec
	geoBuilt         *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_enricher_" + name, Help: help})
	}
	m := &metrics{
		in:  counter("events_in_total", "Raw records read."),
		out: counter("events_out_total", "Enriched events produced."),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_enricher_events_failed_total",
			Help: "Raw records routed to the failed topic, by reason.",
		}, []string{"reason"}),
		geoErrors:        counter("geo_lookup_errors_total", "GeoIP lookups that failed to decode; the event passed without geo."),
		invalidIP:        counter("invalid_ip_total", "Events whose IP did not parse; no geo, and no IP kept without analytics consent."),
		clamped:          counter("time_clamped_total", "Events whose corrected time was beyond the future bound and was clamped."),
		sessionsStarted:  counter("sessions_started_total", "Sessions started."),
		lateEvents:       counter("late_events_total", "Events further behind their visitor's latest event time than the session lateness bound: each gets a session of its own."),
		sessionsInserted: counter("sessions_inserted_total", "Sessions started by an out-of-order event before sessions already issued (the later sessions' indexes rose by one)."),
		linksWritten:     counter("identity_links_total", "Anonymous id to user id links written."),
		stateCorrupt:     counter("state_corrupt_total", "Unreadable session states replaced by a new session."),
		duplicates:       counter("duplicates_total", "Retried copies of an already processed event, dropped."),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sillage_enricher_process_duration_seconds",
			Help:    "Time spent enriching the records of one partition in one polled batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. 6.5s
		}),
	}
	for _, r := range reasons {
		m.failed.WithLabelValues(r)
	}
	m.geoReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_enricher_geo_reloads_total",
		Help: "GeoIP database files changed on disk, by database (city, ASN) and result (ok: in use; refused: the previous one stays).",
	}, []string{"database", "result"})
	m.geoBuilt = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sillage_enricher_geo_database_build_timestamp_seconds",
		Help: "Build time of the GeoIP database in use after the last reload, by database.",
	}, []string{"database"})
	m.bots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_enricher_bots_total",
		Help: "Events flagged as bots (kept, with bot_reason), by kind of signal: crawler-list, headless, http-client, empty-user-agent, client-hint.",
	}, []string{"kind"})
	m.referrers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_enricher_referrers_total",
		Help: "Enriched events by referrer medium: direct, internal, search, social, ai, email, paid, unknown.",
	}, []string{"medium"})
	m.clientHints = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sillage_enricher_client_hints_applied_total",
		Help: "Events whose user agent was refined by User-Agent Client Hints headers (real Windows 11, Android model, full browser version…).",
	})
	m.corrections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_enricher_corrections_total",
		Help: "Corrections emitted on the corrections topic, by kind: PROFILES_MERGED (a visitor logged in, an alias), SESSIONS_MERGED (a late event closed a gap).",
	}, []string{"kind"})
	for _, c := range []prometheus.Collector{m.bots, m.referrers, m.clientHints, m.corrections, m.in, m.out, m.failed, m.geoErrors, m.invalidIP, m.clamped,
		m.sessionsStarted, m.lateEvents, m.sessionsInserted, m.linksWritten, m.stateCorrupt, m.duplicates, m.batchSeconds,
		m.geoReloads, m.geoBuilt} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering enricher metrics: %w", err)
		}
	}
	return m, nil
}
