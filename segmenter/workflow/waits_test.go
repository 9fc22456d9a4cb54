package workflow

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

const waitSegments = `
segments:
  - name: cart_abandoned
    absence:
      start: event.name == "Product Added"
      missing: event.name == "Order Completed"
      within: 30m
  - name: purchased
    event:
      enter: event.name == "Order Completed"
`

// run starts a consumer of workflows (YAML) on the mail env, with a clock
// the test may move (nil: the wall clock).
func (e *mailEnv) run(tb testing.TB, workflows string, clock func() time.Time) (*prometheus.Registry, func()) {
	tb.Helper()
	defs, err := segmenter.ParseDefinitions([]byte(waitSegments + workflows))
	require.NoError(tb, err)
	cfg := DefaultConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := New(e.kcfg, cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
		Serde: e.serde, Topics: testTopics(), Definitions: defs, Clock: clock})
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

func TestParseWaits(t *testing.T) {
	defs, err := segmenter.ParseDefinitions([]byte(waitSegments + `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    exit_on: [{segment: purchased}]
    quiet_hours: {start: "21:00", end: "08:00", time_zone: Europe/Paris}
    actions:
      - wait: 1h
      - webhook: {url: "http://h/x", secret: s}
`))
	require.NoError(t, err)
	wfs, err := Parse(defs)
	require.NoError(t, err)
	w := wfs[0]
	require.Equal(t, "wait", w.Actions[0].Kind())
	require.Equal(t, time.Hour, w.Actions[0].Wait)
	require.Equal(t, []Trigger{{Segment: "purchased", On: schemas.Entered}}, w.ExitOn)
	require.Equal(t, 21*60, w.Quiet.Start)
	require.Equal(t, 8*60, w.Quiet.End)
	require.True(t, w.waits())
	require.True(t, NeedsRuns(wfs))
	require.True(t, NeedsContacts(wfs))

	defs, err = segmenter.ParseDefinitions([]byte(waitSegments + `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    exit_on: [{segment: nope, on: left}]
    quiet_hours: {start: "25:00", end: "8", time_zone: Mars/Olympus}
    actions:
      - wait: -1h
`))
	require.NoError(t, err)
	_, err = Parse(defs)
	require.Error(t, err)
	for _, want := range []string{
		`workflow "w": exit_on[0].segment: no segment "nope" is defined`,
		`workflow "w": exit_on[0].on: "left", want entered or exited`,
		`workflow "w": quiet_hours.start: "25:00", want HH:MM`,
		`workflow "w": quiet_hours.end: "8", want HH:MM`,
		`workflow "w": quiet_hours.time_zone: unknown time zone Mars/Olympus`,
		`workflow "w": actions[0].wait: -1h0m0s, want > 0`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

func TestQuietHoursUntil(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	q := &QuietHours{Start: 21 * 60, End: 8 * 60}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		require.NoError(t, err)
		return v
	}
	for _, c := range []struct {
		now, until string
		quiet      bool
	}{
		{"2026-03-01 20:59", "", false},
		{"2026-03-01 21:00", "2026-03-02 08:00", true},
		{"2026-03-01 23:30", "2026-03-02 08:00", true},
		{"2026-03-02 07:59", "2026-03-02 08:00", true},
		{"2026-03-02 08:00", "", false},
	} {
		end, quiet := q.until(at(c.now).UTC(), paris)
		require.Equal(t, c.quiet, quiet, c.now)
		if quiet {
			require.True(t, at(c.until).Equal(end), "%s: %s", c.now, end)
		}
	}
	day := &QuietHours{Start: 12 * 60, End: 14 * 60}
	_, quiet := day.until(at("2026-03-01 13:00"), paris)
	require.True(t, quiet)
	_, quiet = day.until(at("2026-03-01 14:00"), paris)
	require.False(t, quiet)
}

// TestWaitThenAct: actions after a wait run when it ends, once, and only
// for runs not ended meanwhile: the trigger segment left, an exit_on
// segment entered, marketing consent withdrawn (the action re-checks the
// latest consent). A wait survives a restart of the consumer.
func TestWaitThenAct(t *testing.T) {
	e := newMailEnv(t)
	srv := newHookServer(t)
	workflows := `
workflows:
  - name: nudge
    trigger: {segment: cart_abandoned}
    exit_on: [{segment: purchased}]
    actions:
      - webhook: {url: "` + srv.URL + `/now", secret: s}
      - wait: 1500ms
      - webhook: {url: "` + srv.URL + `/later", secret: s}
`
	for _, p := range []string{"ann", "bob", "cyd", "dee", "eve"} {
		e.identify(t, p, `{"first_name":"x"}`, marketing)
	}
	reg, stop := e.run(t, workflows, nil)
	e.transition(t, sampleTransition("t-ann", "ann", true), sampleTransition("t-bob", "bob", true),
		sampleTransition("t-cyd", "cyd", true), sampleTransition("t-dee", "dee", true), sampleTransition("t-eve", "eve", true))
	require.Eventually(t, func() bool { return len(srv.received()) == 5 }, 10*time.Second, 10*time.Millisecond, "the first action at once")
	require.Equal(t, 5.0, counter(t, reg, "sillage_workflow_waiting", nil))
	// During the wait: bob leaves the segment, cyd buys, dee withdraws
	// marketing consent; eve's consumer restarts.
	bobExit := sampleTransition("t-bob-x", "bob", true)
	bobExit.Transition = schemas.Exited
	cydBuys := sampleTransition("t-cyd-p", "cyd", true)
	cydBuys.Segment = "purchased"
	e.transition(t, bobExit, cydBuys)
	e.identify(t, "dee", `{"first_name":"y"}`, schemas.Consent{Necessary: true, Personalisation: true})
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_runs_total", map[string]string{"outcome": "exited"}) == 2
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	reg2, stop2 := e.run(t, workflows, nil)
	require.Eventually(t, func() bool {
		return counter(t, reg2, "sillage_workflow_resumed_total", nil) == 3
	}, 15*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return counter(t, reg2, "sillage_workflow_waiting", nil) == 0 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	stop2()
	var later []string
	for _, r := range srv.received() {
		if r.path == "/later" {
			later = append(later, r.header.Get(IdempotencyKeyHeader))
		}
	}
	require.ElementsMatch(t, []string{"t-ann", "t-eve"}, later, "bob left, cyd bought, dee withdrew marketing consent")
	require.Equal(t, 1.0, counter(t, reg2, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "no_consent"}))
}

// TestQuietHoursDelay: a message due in quiet hours waits until they end
// (a clock the test moves), in the profile's time zone when known (bob is
// in New York, where it is 17:00), else the workflow's (Paris).
func TestQuietHoursDelay(t *testing.T) {
	e := newMailEnv(t)
	srv := newHookServer(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC).UnixNano()) // 23:00 in Paris
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.identify(t, "ann", `{"first_name":"x"}`, marketing)
	e.enriched(t, &schemas.EnrichedEvent{Raw: schemas.RawEvent{EventID: "b1", Type: "page", UserID: "bob", Consent: marketing},
		ProfileID: "bob", EventTime: time.Now().UnixMilli(), Geo: schemas.Geo{TimeZone: "America/New_York"}})
	reg, stop := e.run(t, `
workflows:
  - name: nudge
    trigger: {segment: cart_abandoned}
    quiet_hours: {start: "21:00", end: "08:00", time_zone: Europe/Paris}
    actions:
      - emit: {event: Nudged}
      - webhook: {url: "`+srv.URL+`", secret: s}
`, clock)
	e.transition(t, sampleTransition("t-1", "ann", true), sampleTransition("t-2", "bob", true))
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "quiet_hours"}) == 1 &&
			len(srv.received()) == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "t-2", srv.received()[0].header.Get(IdempotencyKeyHeader), "bob's evening, not a quiet hour")
	require.Equal(t, 2.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "emit", "outcome": "done"}),
		"events are not messages: emitted at once")
	now.Store(time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC).UnixNano()) // 07:59 in Paris
	time.Sleep(600 * time.Millisecond)
	require.Len(t, srv.received(), 1)
	now.Store(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()) // 08:00 in Paris
	require.Eventually(t, func() bool { return len(srv.received()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "t-1", srv.received()[1].header.Get(IdempotencyKeyHeader))
	stop()
}
