package workflow

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	in       prometheus.Counter
	actions  *prometheus.CounterVec
	attempts *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		in: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sillage_workflow_transitions_in_total", Help: "Membership transitions read.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_workflow_actions_total",
			Help: "Actions finished, by action and outcome (done, failed, no_consent).",
		}, []string{"action", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sillage_workflow_attempts_total", Help: "Action attempts, by result (ok, retry, failed).",
		}, []string{"action", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sillage_workflow_action_seconds", Help: "Time to finish an action, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9),
		}, []string{"action"}),
	}
	for _, c := range []prometheus.Collector{m.in, m.actions, m.attempts, m.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
