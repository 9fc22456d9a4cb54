package segmenter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

func TestSignedUp(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	cases := []struct {
		name  string
		ev    *schemas.EnrichedEvent
		wants []want
	}{
		{"page view", h.event("alice", "page", "", at(0)), nil},
		{"identify without traits", h.event("alice", "identify", "", at(time.Second), traits("{}")), nil},
		{"identify with traits", h.event("alice", "identify", "", at(2*time.Second), traits(`{"email":"a@example.com"}`)),
			[]want{{"signed_up", "alice", schemas.Entered, at(2 * time.Second)}}},
		{"identify again", h.event("alice", "identify", "", at(3*time.Second), traits(`{"plan":"pro"}`)), nil},
		{"track Signed Up", h.event("bob", "track", "Signed Up", at(4*time.Second)),
			[]want{{"signed_up", "bob", schemas.Entered, at(4 * time.Second)}}},
		{"track Signed Up again", h.event("bob", "track", "Signed Up", at(5*time.Second)), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requireTransitions(t, h.transitions(h.process(c.ev)), c.wants...)
		})
	}
	// The record carries a deterministic id, the cause, the consent snapshot
	// and the evaluation time.
	h2 := newHarness(t, testConfig(), "")
	ev := h2.event("carol", "identify", "", at(0), traits(`{"email":"c@example.com"}`), withID("msg-1"),
		consent(schemas.Consent{Necessary: true, Personalisation: true}))
	got := h2.transitions(h2.process(ev))
	require.Len(t, got, 1)
	require.Equal(t, TransitionID("signed_up", "carol", schemas.Entered, "event:msg-1"), got[0].ID)
	require.Equal(t, "msg-1", got[0].CauseEventID)
	require.Equal(t, h2.now.UnixMilli(), got[0].EvaluatedAt)
	require.Equal(t, schemas.Consent{Necessary: true, Personalisation: true}, got[0].Consent)
	require.Equal(t, 1.0, metricValue(t, h2.seg.m.transitions.WithLabelValues("signed_up", "ENTERED")))
}

func TestEventSegmentExit(t *testing.T) {
	h := newHarness(t, testConfig(), `
segments:
  - name: trial
    event: {enter: 'event.name == "Trial Started"', exit: 'event.name == "Trial Ended"'}
`)
	requireTransitions(t, h.transitions(h.process(h.event("p", "track", "Trial Ended", at(0)))))
	requireTransitions(t, h.transitions(h.process(h.event("p", "track", "Trial Started", at(1*time.Second)))),
		want{"trial", "p", schemas.Entered, at(time.Second)})
	requireTransitions(t, h.transitions(h.process(h.event("p", "track", "Trial Ended", at(2*time.Second)))),
		want{"trial", "p", schemas.Exited, at(2 * time.Second)})
	require.Empty(t, h.profileKeys(), "no state once out of every segment")
}

func TestCartAbandonedFiresWhenWatermarkPassesDeadline(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	requireTransitions(t, h.transitions(h.process(h.event("p", "track", "Product Added", at(0), withID("add-1")))))
	require.Equal(t, 1.0, h.gauge("timers"))
	// Other profiles' events move the partition's event time.
	h.process(h.event("q", "page", "", at(29*time.Minute+59*time.Second)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)))
	h.process(h.event("q", "page", "", at(30*time.Minute)))
	got := h.transitions(h.tick(time.Millisecond))
	requireTransitions(t, got, want{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)})
	require.Empty(t, got[0].CauseEventID, "a timer caused it")
	require.Equal(t, TransitionID("cart_abandoned", "p", schemas.Entered, "timer:"+itoa(at(30*time.Minute).UnixMilli())+":add-1"), got[0].ID)
	require.Contains(t, got[0].Reason, "within 30m0s of event add-1")
	require.Equal(t, fullConsent(), got[0].Consent, "the profile's last consent")
	require.Equal(t, 0.0, h.gauge("timers"))
	requireTransitions(t, h.transitions(h.tick(time.Hour)), []want{}...)
}

func TestAllowedLatenessDelaysTimers(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedLateness = 10 * time.Second
	h := newHarness(t, cfg, "")
	h.process(h.event("p", "track", "Product Added", at(0)))
	h.process(h.event("q", "page", "", at(30*time.Minute+9*time.Second)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)))
	// A completion that arrives late but within the lateness still counts.
	h.process(h.event("p", "track", "Order Completed", at(29*time.Minute)))
	h.process(h.event("q", "page", "", at(40*time.Minute)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)))
	require.Equal(t, 0.0, h.gauge("timers"), "the window closed")
}

func TestCompletionArrivingBeforeItsStart(t *testing.T) {
	// Two concurrent requests of one visitor: the order reaches Kafka
	// before the cart addition it follows in event time.
	h := newHarness(t, testConfig(), "")
	h.process(h.event("p", "track", "Order Completed", at(14*time.Second)))
	h.process(h.event("p", "track", "Product Added", at(0)))
	h.process(h.event("q", "page", "", at(time.Hour)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)))
	require.Equal(t, 0.0, h.gauge("timers"))
	// A completion before the cart does not count: that cart is abandoned.
	h.process(h.event("r", "track", "Order Completed", at(time.Hour-time.Second)))
	h.process(h.event("r", "track", "Product Added", at(time.Hour)))
	h.process(h.event("q", "page", "", at(2*time.Hour)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)), want{"cart_abandoned", "r", schemas.Entered, at(time.Hour + 30*time.Minute)})
}

func TestCartAbandonedCompletion(t *testing.T) {
	cases := []struct {
		name   string
		events func(h *harness) []*schemas.EnrichedEvent
		wants  []want
	}{
		{"order within the window: no entry", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(0)),
				h.event("p", "track", "Order Completed", at(30*time.Minute-time.Millisecond)),
				h.event("q", "page", "", at(time.Hour)),
			}
		}, nil},
		{"order exactly at the deadline is too late: enter then exit", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(0)),
				h.event("p", "track", "Order Completed", at(30*time.Minute)),
			}
		}, []want{{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)}, {"cart_abandoned", "p", schemas.Exited, at(30 * time.Minute)}}},
		{"own later event fires the window before it applies", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(0)),
				h.event("p", "page", "", at(45*time.Minute)),
			}
		}, []want{{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)}}},
		{"second add while pending keeps the first window", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(0)),
				h.event("p", "track", "Product Added", at(20*time.Minute)),
				h.event("q", "page", "", at(30*time.Minute)),
			}
		}, []want{{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)}}},
		{"order before the window opened does not complete it", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(10*time.Minute)),
				h.event("p", "track", "Order Completed", at(5*time.Minute)), // late, out of order
				h.event("q", "page", "", at(40*time.Minute)),
			}
		}, []want{{"cart_abandoned", "p", schemas.Entered, at(40 * time.Minute)}}},
		{"exit on order after entry, then re-entry", func(h *harness) []*schemas.EnrichedEvent {
			return []*schemas.EnrichedEvent{
				h.event("p", "track", "Product Added", at(0)),
				h.event("p", "track", "Product Added", at(31*time.Minute)), // member: ignored
				h.event("p", "track", "Order Completed", at(50*time.Minute)),
				h.event("p", "track", "Product Added", at(60*time.Minute)),
				h.event("q", "page", "", at(90*time.Minute)),
			}
		}, []want{
			{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)},
			{"cart_abandoned", "p", schemas.Exited, at(50 * time.Minute)},
			{"cart_abandoned", "p", schemas.Entered, at(90 * time.Minute)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), "")
			var recs []*kgo.Record
			for _, e := range c.events(h) {
				recs = append(recs, h.process(e)...)
				recs = append(recs, h.tick(time.Millisecond)...)
			}
			got := h.transitions(recs)
			requireTransitions(t, got, c.wants...)
			ids := map[string]bool{}
			for _, g := range got {
				require.False(t, ids[g.ID], "ids are unique")
				ids[g.ID] = true
			}
		})
	}
}

func TestNoStateWithoutConsentOrForBots(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	recs := h.process(
		h.event("p", "track", "Product Added", at(0), noConsent),
		h.event("p", "identify", "", at(time.Second), traits(`{"email":"p@example.com"}`), noConsent),
		h.event("b", "track", "Signed Up", at(2*time.Second), bot),
		h.event("b", "track", "Product Added", at(3*time.Second), bot),
	)
	recs = append(recs, h.tick(time.Hour)...)
	require.Empty(t, recs)
	require.Empty(t, h.profileKeys())
	for _, r := range h.store.Changelog() {
		require.Equal(t, offsetKey, string(r.Key), "only the offset marker is written")
	}
	require.Equal(t, 2.0, metricValue(t, h.seg.m.ignored.WithLabelValues("no_consent")))
	require.Equal(t, 2.0, metricValue(t, h.seg.m.ignored.WithLabelValues("bot")))
}

func TestConsentWithdrawalExitsAndErasesState(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	h.process(h.event("p", "track", "Signed Up", at(0)), h.event("p", "track", "Product Added", at(time.Second)))
	require.Len(t, h.profileKeys(), 1)
	h.store.Changelog()
	got := h.transitions(h.process(h.event("p", "page", "", at(2*time.Second), withID("optout"), noConsent)))
	requireTransitions(t, got, want{"signed_up", "p", schemas.Exited, at(2 * time.Second)})
	require.Equal(t, "personalisation consent withdrawn", got[0].Reason)
	require.Equal(t, schemas.NecessaryOnly(), got[0].Consent)
	require.Empty(t, h.profileKeys())
	cl := h.store.Changelog()
	require.Len(t, cl, 1)
	require.Nil(t, cl[0].Value, "a tombstone erases the profile in the changelog")
	require.Equal(t, 0.0, h.gauge("timers"))
	require.Empty(t, h.transitions(h.tick(time.Hour)), "the cancelled window never fires")
}

func TestExactlyOnceAcrossRestore(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	batch1 := []*kgo.Record{
		h.record(h.event("p", "track", "Product Added", at(0))),
		h.record(h.event("s", "track", "Signed Up", at(time.Minute))),
	}
	batch2 := []*kgo.Record{
		h.record(h.event("q", "track", "Product Added", at(2*time.Minute))),
		h.record(h.event("z", "page", "", at(31*time.Minute))),
	}
	run := func(batch []*kgo.Record) []*schemas.MembershipTransition {
		var recs []*kgo.Record
		for _, r := range batch {
			recs = append(recs, h.processRecord(r)...)
		}
		recs = append(recs, h.tick(time.Millisecond)...)
		return h.transitions(recs)
	}
	first := run(batch1)
	requireTransitions(t, first, want{"signed_up", "s", schemas.Entered, at(time.Minute)})
	committed := h.store.Changelog() // batch 1's transaction committed

	out2 := run(batch2)
	requireTransitions(t, out2, want{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)})
	h.store.Changelog() // batch 2's transaction aborted: its changelog is lost

	// The restarted task rebuilds its timers from the committed state and
	// produces batch 2's transitions again, with the same ids.
	h.restart(committed)
	require.Equal(t, 1.0, h.gauge("timers"))
	again := run(batch2)
	require.Equal(t, out2[0].ID, again[0].ID)
	requireTransitions(t, again, want{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)})
	committed = append(committed, h.store.Changelog()...)

	// Batch 2 committed this time; a redelivery of both batches after
	// another restart produces nothing.
	h.restart(committed)
	require.Empty(t, run(batch1))
	require.Empty(t, run(batch2))
	require.Equal(t, 4.0, metricValue(t, h.seg.m.replayed))

	// The same events again under new offsets (an upstream duplicate) are
	// no-ops too: the profiles are already where these events took them.
	var dup []*kgo.Record
	for _, r := range append(batch1, batch2...) {
		c := *r
		c.Offset += 100
		dup = append(dup, &c)
	}
	require.Empty(t, run(dup))
}

func TestTimersRestoredFromStore(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	h.process(h.event("a", "track", "Product Added", at(0)), h.event("b", "track", "Product Added", at(5*time.Minute)))
	h.tick(time.Millisecond)
	h.restart(h.store.Changelog())
	require.Equal(t, 2.0, h.gauge("timers"))
	require.Equal(t, 2.0, h.gauge("profiles"))
	h.process(h.event("z", "page", "", at(40*time.Minute)))
	requireTransitions(t, h.transitions(h.tick(time.Millisecond)),
		want{"cart_abandoned", "a", schemas.Entered, at(30 * time.Minute)},
		want{"cart_abandoned", "b", schemas.Entered, at(35 * time.Minute)})
}

func TestUndecodableRecordGoesToFailedTopic(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	var out stream.Output
	rec := &kgo.Record{Topic: testTopics().Enriched, Partition: 3, Offset: 7, Key: []byte("k"), Value: []byte("not avro")}
	require.NoError(t, h.task.Process(context.Background(), rec, &out))
	require.Len(t, out.Records(), 1)
	r := out.Records()[0]
	require.Equal(t, testTopics().Failed, r.Topic)
	f, err := h.serde.DecodeFailed(context.Background(), r.Value)
	require.NoError(t, err)
	require.Equal(t, "segmenter", f.Stage)
	require.Equal(t, "undecodable", f.Reason)
	require.Equal(t, int64(7), f.SourceOffset)
	require.Equal(t, []byte("not avro"), f.Payload)
	require.Contains(t, f.Detail, "magic byte")
}

func TestPredicateErrorsCountAsNoMatch(t *testing.T) {
	h := newHarness(t, testConfig(), `
segments:
  - name: big_order
    event: {enter: 'event.name == "Order Completed" && event.properties.total > 100.0'}
`)
	require.Empty(t, h.process(h.event("p", "track", "Order Completed", at(0), props(`{"currency":"EUR"}`))))
	require.Equal(t, 1.0, metricValue(t, h.seg.m.predicateErrors.WithLabelValues("big_order")))
	requireTransitions(t, h.transitions(h.process(h.event("p", "track", "Order Completed", at(time.Second), props(`{"total":120.5}`)))),
		want{"big_order", "p", schemas.Entered, at(time.Second)})
}

// A restarted task resumes its partition's event clock from the store: a
// window that the data already closed fires once the partition is quiet,
// without waiting for a new event (before, the clock restarted empty and
// timers waited for the next event of the instance).
func TestTimersFireAfterRestartWithoutNewEvents(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedLateness = 10 * time.Minute
	h := newHarness(t, cfg, "")
	h.process(h.event("p", "track", "Product Added", at(0)), h.event("z", "page", "", at(31*time.Minute)))
	require.Empty(t, h.transitions(h.tick(0)), "31m − 10m of lateness: the 30m window is still open")
	committed := h.store.Changelog()
	h.restart(committed)
	require.Equal(t, 1.0, h.gauge("timers"))
	got := h.transitions(h.tick(cfg.QuietPeriod + time.Second))
	requireTransitions(t, got, want{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)})
}
