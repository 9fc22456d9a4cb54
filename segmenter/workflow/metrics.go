package workflow

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	in       prometheus.Counter
	runs     *prometheus.CounterVec
	resumed  prometheus.Counter
	branches *prometheus.CounterVec
	waiting  prometheus.Gauge
	actions  *prometheus.CounterVec
	attempts *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	// The contact directory (registered by the consumer only when a
	// workflow sends e-mail).
	contacts      prometheus.Gauge
	contactEvents *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		in: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_workflow_transitions_in_total", Help: "Membership transitions read.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_workflow_actions_total",
			Help: "Actions finished, by action and outcome (done, failed, no_consent, no_address), or delayed (quiet_hours).",
		}, []string{"action", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_workflow_attempts_total", Help: "Action attempts, by result (ok, retry, failed).",
		}, []string{"action", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sillage_workflow_action_seconds", Help: "Time to finish an action, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}, []string{"action"}),
	}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_workflow_runs_total",
		Help: "Workflows triggered, by outcome (started, or not for reentry, cooldown, capped), and waiting runs ended (exited).",
	}, []string{"outcome"})
	m.resumed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sillage_workflow_resumed_total", Help: "Waiting runs resumed (a wait or quiet hours ended).",
	})
	m.branches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_workflow_branches_total", Help: "Branches taken, by outcome (then, else, error: taken as else).",
	}, []string{"outcome"})
	m.waiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sillage_workflow_waiting", Help: "Runs waiting (a wait action, quiet hours).",
	})
	m.contacts = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sillage_workflow_contacts", Help: "Profiles in the contact directory (traits known for e-mail).",
	})
	m.contactEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sillage_workflow_contact_changes_total",
		Help: "Contact directory changes from enriched events, by result (updated, deleted, undecodable).",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{m.in, m.runs, m.resumed, m.branches, m.waiting, m.actions, m.attempts, m.seconds, m.contacts, m.contactEvents} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
