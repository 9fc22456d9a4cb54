package workflow

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

func TestParseReentry(t *testing.T) {
	wfs, err := parse(t, `
workflows:
  - name: a
    trigger: {segment: cart_abandoned}
    actions: [{webhook: {url: "http://h/x", secret: s}}]
  - name: b
    trigger: {segment: cart_abandoned}
    reentry: cooldown
    cooldown: 24h
    frequency_cap: {max: 2, per: 168h}
    actions: [{webhook: {url: "http://h/x", secret: s}}]
`)
	require.NoError(t, err)
	require.Equal(t, ReentryEveryTime, wfs[0].Reentry)
	require.False(t, wfs[0].keepsRuns())
	require.False(t, NeedsRuns(wfs[:1]))
	require.Equal(t, ReentryCooldown, wfs[1].Reentry)
	require.Equal(t, 24*time.Hour, wfs[1].Cooldown)
	require.Equal(t, 2, wfs[1].CapMax)
	require.Equal(t, 168*time.Hour, wfs[1].CapPer)
	require.True(t, NeedsRuns(wfs))

	_, err = parse(t, `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    reentry: sometimes
    cooldown: 1h
    frequency_cap: {max: 0, per: -1s}
    actions: [{webhook: {url: "http://h/x", secret: s}}]
  - name: v
    trigger: {segment: cart_abandoned}
    reentry: cooldown
    actions: [{webhook: {url: "http://h/x", secret: s}}]
`)
	require.Error(t, err)
	for _, want := range []string{
		`workflow "w": reentry: "sometimes", want every_time, once or cooldown`,
		`workflow "w": cooldown: given with reentry "sometimes" (want reentry: cooldown)`,
		`workflow "w": frequency_cap.max: 0, want >= 1`,
		`workflow "w": frequency_cap.per: -1s, want > 0`,
		`workflow "v": cooldown: 0s, want > 0 with reentry cooldown`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

// policyConsumer starts a consumer whose workflows are given as YAML.
func (e *env) policyConsumer(tb testing.TB, workflows string, tune ...func(*Config)) (*prometheus.Registry, func()) {
	tb.Helper()
	defs, err := segmenter.ParseDefinitions([]byte(segmentsYAML + workflows))
	require.NoError(tb, err)
	cfg := DefaultConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	for _, f := range tune {
		f(&cfg)
	}
	reg := prometheus.NewRegistry()
	kcfg := e.kcfg
	kcfg.Partitions = 2
	c, err := New(kcfg, cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
		Serde: e.serde, Topics: testTopics(), Definitions: defs})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			require.NoError(tb, err)
		case <-time.After(15 * time.Second):
			tb.Fatal("Run did not return after cancel")
		}
	}
	tb.Cleanup(stop)
	require.Eventually(tb, c.Ready, 15*time.Second, 10*time.Millisecond)
	return reg, stop
}

func at(id, profile string, h int) *schemas.MembershipTransition {
	t := sampleTransition(id, profile, true)
	t.EventTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour).UnixMilli()
	return t
}

func keys(h *hookServer) []string {
	var out []string
	for _, r := range h.received() {
		out = append(out, r.header.Get(WorkflowHeader)+"/"+r.header.Get(IdempotencyKeyHeader))
	}
	return out
}

// TestReentryAndCaps: once, cooldown and a frequency cap decided in event
// time on the run history, which survives a restart of the consumer.
func TestReentryAndCaps(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t)
	workflows := `
workflows:
  - name: once
    trigger: {segment: cart_abandoned}
    reentry: once
    actions: [{webhook: {url: "` + srv.URL + `", secret: s}}]
  - name: cool
    trigger: {segment: cart_abandoned}
    reentry: cooldown
    cooldown: 10h
    actions: [{webhook: {url: "` + srv.URL + `", secret: s}}]
  - name: capped
    trigger: {segment: cart_abandoned}
    frequency_cap: {max: 2, per: 24h}
    actions: [{webhook: {url: "` + srv.URL + `", secret: s}}]
`
	reg, stop := e.policyConsumer(t, workflows)
	e.produce(t, at("t-1", "ann", 0), at("t-2", "ann", 5), at("t-3", "ann", 12))
	e.produce(t, sampleTransition("t-x", "bob", false)) // no consent: no run recorded
	require.Eventually(t, func() bool { return committed(t, e, "sillage.workflow") == 4 }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.ElementsMatch(t, []string{
		"once/t-1", "cool/t-1", "capped/t-1",
		"capped/t-2", // cool: 5h < 10h after t-1
		"cool/t-3",   // capped: t-1 and t-2 within 24h
	}, keys(srv))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_runs_total", map[string]string{"outcome": "cooldown"}))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_runs_total", map[string]string{"outcome": "capped"}))
	require.Equal(t, 2.0, counter(t, reg, "sillage_workflow_runs_total", map[string]string{"outcome": "reentry"}))

	// After a restart: the history is restored; bob, refused for consent
	// before, gets his first run now.
	reg2, stop2 := e.policyConsumer(t, workflows)
	e.produce(t, at("t-4", "ann", 30), at("t-5", "ann", 31), sampleTransition("t-y", "bob", true))
	require.Eventually(t, func() bool { return committed(t, e, "sillage.workflow") == 7 }, 10*time.Second, 10*time.Millisecond)
	stop2()
	require.ElementsMatch(t, []string{
		"once/t-1", "cool/t-1", "capped/t-1", "capped/t-2", "cool/t-3",
		"cool/t-4", "capped/t-4", // 18h after t-3; t-1 and t-2 are out of the 24h window
		"capped/t-5", // cool: 1h after t-4
		"once/t-y", "cool/t-y", "capped/t-y",
	}, keys(srv))
	require.Equal(t, 2.0, counter(t, reg2, "sillage_workflow_runs_total", map[string]string{"outcome": "reentry"}), "once: ann, twice")
}

// TestRunRedeliveredGoesAhead: a transition handled again (its offset was
// not committed before a crash) finds its own run and runs again, with the
// same idempotency key; the once policy does not swallow it.
func TestRunRedeliveredGoesAhead(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t)
	reg, stop := e.policyConsumer(t, `
workflows:
  - name: once
    trigger: {segment: cart_abandoned}
    reentry: once
    actions: [{webhook: {url: "`+srv.URL+`", secret: s}}]
`)
	e.produce(t, at("t-1", "ann", 0), at("t-1", "ann", 0), at("t-2", "ann", 1))
	require.Eventually(t, func() bool { return committed(t, e, "sillage.workflow") == 3 }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.Equal(t, []string{"once/t-1", "once/t-1"}, keys(srv))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_runs_total", map[string]string{"outcome": "reentry"}))
}

// TestMessageCap: at most 2 messages per profile per hour across
// workflows; a transition handled again does not count twice; emitted
// events are not messages.
func TestMessageCap(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t)
	workflows := `
workflows:
  - name: one
    trigger: {segment: cart_abandoned}
    actions: [{webhook: {url: "` + srv.URL + `/one", secret: s}}]
  - name: two
    trigger: {segment: cart_abandoned}
    actions: [{webhook: {url: "` + srv.URL + `/two", secret: s}}]
`
	capped := func(c *Config) { c.MessageCap, c.MessageCapPer = 2, time.Hour }
	reg, stop := e.policyConsumer(t, workflows, capped)
	e.produce(t, at("t-1", "ann", 0), at("t-1", "ann", 0), at("t-2", "ann", 1), at("t-3", "bob", 0))
	require.Eventually(t, func() bool { return committed(t, e, "sillage.workflow") == 4 }, 10*time.Second, 10*time.Millisecond)
	stop()
	require.ElementsMatch(t, []string{"one/t-1", "two/t-1", "one/t-1", "two/t-1", "one/t-3", "two/t-3"}, keys(srv),
		"t-1 redelivered: its messages again, not counted twice; t-2 capped")
	require.Equal(t, 2.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "capped"}))

	// Restored after a restart.
	reg2, stop2 := e.policyConsumer(t, workflows, capped)
	e.produce(t, at("t-4", "ann", 2))
	require.Eventually(t, func() bool { return committed(t, e, "sillage.workflow") == 5 }, 10*time.Second, 10*time.Millisecond)
	stop2()
	require.Equal(t, 2.0, counter(t, reg2, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "capped"}))
	require.Len(t, srv.received(), 6)
}
