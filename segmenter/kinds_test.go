package segmenter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

const windowDefs = `
segments:
  - name: browsing
    window:
      match: event.type == "page"
      within: 10m
      at_least: 3
  - name: big_basket
    window:
      match: event.type == "track" && event.name == "Product Added"
      within: 1h
      sum: event.properties.price
      sum_at_least: 100
`

// run processes events one by one, ticking after each, and returns the
// transitions.
func (h *harness) run(evs ...*schemas.EnrichedEvent) []*schemas.MembershipTransition {
	h.tb.Helper()
	var recs []*kgo.Record
	for _, e := range evs {
		recs = append(recs, h.process(e)...)
		recs = append(recs, h.tick(time.Millisecond)...)
	}
	return h.transitions(recs)
}

func TestWindowCountEntersAndExitsWhenTheWindowSlides(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	got := h.run(
		h.event("p", "page", "", at(0)),
		h.event("p", "page", "", at(4*time.Minute)),
		h.event("p", "track", "Other", at(5*time.Minute)), // not matching
	)
	require.Empty(t, got)
	got = h.run(h.event("p", "page", "", at(9*time.Minute), withID("third")))
	requireTransitions(t, got, want{"browsing", "p", schemas.Entered, at(9 * time.Minute)})
	require.Equal(t, "third", got[0].CauseEventID)
	require.Equal(t, TransitionID("browsing", "p", schemas.Entered, "event:third"), got[0].ID)
	require.Equal(t, "the window holds at least 3 events matching window.match within 10m0s", got[0].Reason)
	// A fourth view at 9m30 keeps 3 views once the one at 0 expires: the
	// exit timer moves from 10m to 14m (expiry of the view at 4m).
	require.Empty(t, h.run(h.event("p", "page", "", at(9*time.Minute+30*time.Second))))
	require.Equal(t, 1.0, h.gauge("timers"))
	// Another profile's event moves event time to 13m59.999s: nothing yet.
	require.Empty(t, h.run(h.event("q", "track", "Other", at(14*time.Minute-time.Millisecond))))
	got = h.run(h.event("q", "track", "Other", at(14*time.Minute)))
	requireTransitions(t, got, want{"browsing", "p", schemas.Exited, at(14 * time.Minute)})
	require.Empty(t, got[0].CauseEventID, "the window's expiry caused it")
	require.Equal(t, TransitionID("browsing", "p", schemas.Exited, "timer:"+itoa(at(14*time.Minute).UnixMilli())), got[0].ID)
	// The state left (2 views) expires with the newest at 19m30, and is
	// dropped an hour later (late events may still need it until then).
	require.Len(t, h.profileKeys(), 1)
	h.run(h.event("q", "track", "Other", at(79*time.Minute+30*time.Second-time.Millisecond)))
	require.Len(t, h.profileKeys(), 1)
	h.run(h.event("q", "track", "Other", at(79*time.Minute+30*time.Second)))
	require.Empty(t, h.profileKeys())
	require.Equal(t, 0.0, h.gauge("timers"))
}

func TestWindowBoundaries(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	// Three views spanning exactly 10m are not within 10m.
	require.Empty(t, h.run(h.event("a", "page", "", at(0)), h.event("a", "page", "", at(5*time.Minute)), h.event("a", "page", "", at(10*time.Minute))))
	// A view at the instant the oldest expires keeps the profile in:
	// (0, 5m, 9m) enters at 9m; the view at 10m replaces the one at 0
	// without an exit and entry at 10m.
	h2 := newHarness(t, testConfig(), windowDefs)
	got := h2.run(h2.event("b", "page", "", at(0)), h2.event("b", "page", "", at(5*time.Minute)), h2.event("b", "page", "", at(9*time.Minute)),
		h2.event("b", "page", "", at(10*time.Minute)))
	requireTransitions(t, got, want{"browsing", "b", schemas.Entered, at(9 * time.Minute)})
	// The profile's own later event decides the expiry before it applies.
	got = h2.run(h2.event("b", "page", "", at(30*time.Minute)))
	requireTransitions(t, got, want{"browsing", "b", schemas.Exited, at(15 * time.Minute)})
	// Three views at the same instant.
	h3 := newHarness(t, testConfig(), windowDefs)
	got = h3.run(h3.event("c", "page", "", at(0)), h3.event("c", "page", "", at(0)), h3.event("c", "page", "", at(0)))
	requireTransitions(t, got, want{"browsing", "c", schemas.Entered, at(0)})
}

func TestWindowKeepsOnlyWhatItNeeds(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	for i := range 50 {
		h.process(h.event("p", "page", "", at(time.Duration(i)*time.Second)))
	}
	v, ok := h.store.Get(profilePrefix + "p")
	require.True(t, ok)
	st, err := decodeState(v)
	require.NoError(t, err)
	require.Len(t, st.Segments["browsing"].Times, 3, "a count-only window keeps at_least events")
	require.Equal(t, at(49*time.Second).UnixMilli(), st.Segments["browsing"].Times[2])
}

func TestWindowSum(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	add := func(at time.Time, price string) *schemas.EnrichedEvent {
		return h.event("p", "track", "Product Added", at, props(`{"price":`+price+`}`))
	}
	require.Empty(t, h.run(add(at(0), "60"), add(at(10*time.Minute), `"30.5"`)))
	got := h.run(add(at(20*time.Minute), "10"))
	requireTransitions(t, got, want{"big_basket", "p", schemas.Entered, at(20 * time.Minute)})
	// A refund-like negative price drops the sum below 100 at once.
	got = h.run(add(at(30*time.Minute), "-5"))
	requireTransitions(t, got, want{"big_basket", "p", schemas.Exited, at(30 * time.Minute)})
	// When the -5 expires (1h30) the sum would rise, but 60 has expired at
	// 1h: back up only if the rest reaches 100.
	got = h.run(add(at(40*time.Minute), "80"))
	requireTransitions(t, got, want{"big_basket", "p", schemas.Entered, at(40 * time.Minute)}) // 60+30.5+10-5+80
	// At 1h the 60 expires: 115.5 is still enough; at 1h10 the 30.5
	// expires: 85 is not, and the profile exits then.
	require.Empty(t, h.run(h.event("q", "track", "Other", at(61*time.Minute))))
	got = h.run(h.event("q", "track", "Other", at(70*time.Minute)))
	requireTransitions(t, got, want{"big_basket", "p", schemas.Exited, at(70 * time.Minute)})
	require.Equal(t, "the window no longer holds a window.sum of at least 100 within 1h0m0s", got[0].Reason)
}

const sequenceDefs = `
segments:
  - name: checkout_started
    sequence:
      steps:
        - event.type == "track" && event.name == "Product Added"
        - event.type == "track" && event.name == "Checkout Started"
      within: 1h
      exit: event.type == "track" && event.name == "Order Completed"
  - name: funnel_3
    sequence:
      steps:
        - event.type == "page" && event.page.path == "/a"
        - event.type == "page" && event.page.path == "/b"
        - event.type == "page" && event.page.path == "/c"
      within: 10m
      member_for: 30m
`

func page(path string) evOpt { return func(e *schemas.EnrichedEvent) { e.Raw.PagePath = path } }

func TestSequence(t *testing.T) {
	h := newHarness(t, testConfig(), sequenceDefs)
	// Checkout before any add: nothing; add then checkout within 1h: entry.
	require.Empty(t, h.run(h.event("p", "track", "Checkout Started", at(0))))
	require.Empty(t, h.run(h.event("p", "track", "Product Added", at(time.Minute))))
	got := h.run(h.event("p", "track", "Checkout Started", at(61*time.Minute-time.Millisecond), withID("co")))
	requireTransitions(t, got, want{"checkout_started", "p", schemas.Entered, at(61*time.Minute - time.Millisecond)})
	require.Equal(t, "co", got[0].CauseEventID)
	require.Equal(t, "the 2 steps of the sequence within 1h0m0s", got[0].Reason)
	// While a member, steps are ignored; the exit predicate makes it exit.
	require.Empty(t, h.run(h.event("p", "track", "Product Added", at(62*time.Minute)), h.event("p", "track", "Checkout Started", at(63*time.Minute))))
	requireTransitions(t, h.run(h.event("p", "track", "Order Completed", at(64*time.Minute))),
		want{"checkout_started", "p", schemas.Exited, at(64 * time.Minute)})

	// Too late: exactly 1h after the add does not count.
	h2 := newHarness(t, testConfig(), sequenceDefs)
	require.Empty(t, h2.run(h2.event("q", "track", "Product Added", at(0)), h2.event("q", "track", "Checkout Started", at(time.Hour))))
	// A later add restarts the match (the latest start is kept).
	h3 := newHarness(t, testConfig(), sequenceDefs)
	got = h3.run(h3.event("r", "track", "Product Added", at(0)), h3.event("r", "track", "Product Added", at(50*time.Minute)),
		h3.event("r", "track", "Checkout Started", at(100*time.Minute)))
	requireTransitions(t, got, want{"checkout_started", "r", schemas.Entered, at(100 * time.Minute)})
}

func TestSequenceThreeStepsAndMemberFor(t *testing.T) {
	h := newHarness(t, testConfig(), sequenceDefs)
	// /a, /c, /b, /c: the first /c is out of order and does not complete.
	require.Empty(t, h.run(h.event("p", "page", "", at(0), page("/a")), h.event("p", "page", "", at(time.Minute), page("/c")),
		h.event("p", "page", "", at(2*time.Minute), page("/b"))))
	got := h.run(h.event("p", "page", "", at(3*time.Minute), page("/c")))
	requireTransitions(t, got, want{"funnel_3", "p", schemas.Entered, at(3 * time.Minute)})
	require.Equal(t, 1.0, h.gauge("timers"), "the member_for timer")
	// The timer is durable: a restarted task restores it from the changelog.
	h.restart(h.store.Changelog())
	require.Equal(t, 1.0, h.gauge("timers"))
	// member_for: the exit fires in event time, 30m after the entry.
	require.Empty(t, h.run(h.event("z", "page", "", at(33*time.Minute-time.Millisecond))))
	got = h.run(h.event("z", "page", "", at(33*time.Minute)))
	requireTransitions(t, got, want{"funnel_3", "p", schemas.Exited, at(33 * time.Minute)})
	require.Equal(t, "sequence.member_for 30m0s elapsed", got[0].Reason)
	// A partial match leaves state only until an hour after it expires.
	h.run(h.event("y", "page", "", at(40*time.Minute), page("/a")))
	require.Contains(t, h.profileKeys(), profilePrefix+"y")
	h.run(h.event("z", "page", "", at(109*time.Minute)))
	require.Contains(t, h.profileKeys(), profilePrefix+"y")
	h.run(h.event("z", "page", "", at(110*time.Minute)))
	require.NotContains(t, h.profileKeys(), profilePrefix+"y")
}

const membershipDefs = `
segments:
  - name: hot_abandoner
    in_segments:
      all: [cart_abandoned, browsing]
      none: [vip]
  - name: browsing
    window: {match: 'event.type == "page"', within: 10m, at_least: 2}
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 30m
  - name: vip
    event: {enter: 'event.name == "Order Completed" && segment("browsing")'}
`

func TestInSegmentsFollowsEventsAndTimers(t *testing.T) {
	h := newHarness(t, testConfig(), membershipDefs)
	d := h.defs
	var order []string
	for _, s := range d.order {
		order = append(order, s.Name)
	}
	require.Equal(t, []string{"browsing", "cart_abandoned", "vip", "hot_abandoner"}, order, "dependencies first")

	require.Empty(t, h.run(h.event("p", "track", "Product Added", at(0))))
	// The absence timer fires at 30m (another profile moves event time);
	// browsing is not held: no hot_abandoner yet.
	requireTransitions(t, h.run(h.event("z", "track", "X", at(30*time.Minute))),
		want{"cart_abandoned", "p", schemas.Entered, at(30 * time.Minute)})
	// Two page views: browsing, and so hot_abandoner, on the same event.
	got := h.run(h.event("p", "page", "", at(31*time.Minute)), h.event("p", "page", "", at(32*time.Minute), withID("v2")))
	requireTransitions(t, got, want{"browsing", "p", schemas.Entered, at(32 * time.Minute)},
		want{"hot_abandoner", "p", schemas.Entered, at(32 * time.Minute)})
	require.Equal(t, "in_segments: in all of cart_abandoned, browsing; none of vip", got[1].Reason)
	require.Equal(t, "v2", got[1].CauseEventID)
	// The window's expiry timer (41m) makes p leave browsing, and at once
	// hot_abandoner, with a deterministic id derived from the timer.
	got = h.run(h.event("z", "track", "X", at(41*time.Minute)))
	requireTransitions(t, got, want{"browsing", "p", schemas.Exited, at(41 * time.Minute)},
		want{"hot_abandoner", "p", schemas.Exited, at(41 * time.Minute)})
	require.Equal(t, TransitionID("hot_abandoner", "p", schemas.Exited,
		"follows:browsing:EXITED:timer:"+itoa(at(41*time.Minute).UnixMilli())), got[1].ID)
	// segment("browsing") in a predicate: an order while browsing makes p
	// a vip (and the order exits cart_abandoned).
	got = h.run(h.event("p", "page", "", at(42*time.Minute)), h.event("p", "page", "", at(43*time.Minute)))
	requireTransitions(t, got, want{"browsing", "p", schemas.Entered, at(43 * time.Minute)},
		want{"hot_abandoner", "p", schemas.Entered, at(43 * time.Minute)})
	got = h.run(h.event("p", "track", "Order Completed", at(44*time.Minute)))
	requireTransitions(t, got, want{"cart_abandoned", "p", schemas.Exited, at(44 * time.Minute)},
		want{"vip", "p", schemas.Entered, at(44 * time.Minute)},
		want{"hot_abandoner", "p", schemas.Exited, at(44 * time.Minute)})
	// Not browsing: an order does not make q a vip.
	require.Empty(t, h.run(h.event("q", "track", "Order Completed", at(45*time.Minute))))
}

func TestComputedTraitsAndProfileTraits(t *testing.T) {
	h := newHarness(t, testConfig(), `
computed:
  - name: lifetime_value
    aggregate: sum
    where: event.type == "track" && event.name == "Order Completed" && has(event.properties.revenue)
    value: event.properties.revenue
  - name: orders
    aggregate: count
    where: event.type == "track" && event.name == "Order Completed"
  - name: first_source
    aggregate: first
    where: event.campaign.source != ""
    value: event.campaign.source
  - name: first_order_at
    aggregate: first
    where: event.type == "track" && event.name == "Order Completed"
    value: event.time
  - name: last_order_at
    aggregate: last
    where: event.type == "track" && event.name == "Order Completed"
    value: event.time
  - name: biggest_order
    aggregate: max
    where: has(event.properties.revenue)
    value: event.properties.revenue
segments:
  - name: valuable
    event:
      enter: profile.computed.lifetime_value > 100
      exit: profile.computed.lifetime_value <= 100
  - name: loyal_pro
    event:
      enter: profile.computed.orders >= 2 && has(profile.traits.plan) && profile.traits.plan == "pro"
  - name: from_newsletter
    event:
      enter: has(profile.computed.first_source) && profile.computed.first_source == "newsletter" && event.consent.marketing
  - name: returning_buyer
    description: a second order at least a minute after the first, in the shop's daytime
    event:
      enter: >-
        event.name == "Order Completed" &&
        event.time - timestamp(profile.computed.first_order_at) >= duration("1m") &&
        event.time.getHours("Europe/Paris") >= 2
`)
	order := func(at time.Time, rev string) *schemas.EnrichedEvent {
		return h.event("p", "track", "Order Completed", at, props(`{"revenue":`+rev+`}`))
	}
	campaign := func(src string) evOpt { return func(e *schemas.EnrichedEvent) { e.Campaign.Source = src } }
	got := h.run(h.event("p", "page", "", at(0), campaign("newsletter")), h.event("p", "page", "", at(time.Second), campaign("ads")))
	requireTransitions(t, got, want{"from_newsletter", "p", schemas.Entered, at(0)})
	require.Empty(t, h.run(order(at(time.Minute), "60")))
	got = h.run(order(at(2*time.Minute), "50.5"))
	requireTransitions(t, got, want{"valuable", "p", schemas.Entered, at(2 * time.Minute)},
		want{"returning_buyer", "p", schemas.Entered, at(2 * time.Minute)})
	got = h.run(h.event("p", "identify", "", at(3*time.Minute), traits(`{"plan":"pro","email":"p@example.com"}`)))
	requireTransitions(t, got, want{"loyal_pro", "p", schemas.Entered, at(3 * time.Minute)})
	// A refund as a negative revenue takes the lifetime value down.
	got = h.run(order(at(4*time.Minute), "-20"))
	requireTransitions(t, got, want{"valuable", "p", schemas.Exited, at(4 * time.Minute)})

	v, ok := h.store.Get(profilePrefix + "p")
	require.True(t, ok)
	st, err := decodeState(v)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"lifetime_value": 90.5, "orders": 3.0, "first_source": "newsletter",
		"last_order_at": at(4 * time.Minute).Format(time.RFC3339Nano), "biggest_order": 60.0,
		"first_order_at": at(time.Minute).Format(time.RFC3339Nano)}, st.Computed)
	require.Equal(t, map[string]any{"plan": "pro", "email": "p@example.com"}, st.Traits)

	// Restored from the changelog, the values carry on; a duplicate of an
	// order (same id, new offset) is not counted twice.
	h.restart(h.store.Changelog())
	dup := order(at(5*time.Minute), "30")
	got = h.run(dup)
	requireTransitions(t, got, want{"valuable", "p", schemas.Entered, at(5 * time.Minute)})
	require.Empty(t, h.run(dup))
	v, _ = h.store.Get(profilePrefix + "p")
	st, err = decodeState(v)
	require.NoError(t, err)
	require.Equal(t, 120.5, st.Computed["lifetime_value"])
	require.Equal(t, 4.0, st.Computed["orders"])
	require.Equal(t, 1.0, metricValue(t, h.seg.m.ignored.WithLabelValues("duplicate")))
}

func TestNewKindsLoadErrors(t *testing.T) {
	cases := map[string][]string{
		`
segments:
  - name: w
    window: {match: 'event.type == "page"', within: 0s}
`: {`segment "w": window.within: 0s, want a positive duration`, `segment "w": window: a threshold is required`},
		`
segments:
  - name: w
    window: {match: 'event.type == "page"', within: 1m, sum: 'event.name', sum_at_least: 3}
`: {`segment "w": window.sum: must be a numeric expression, is string`},
		`
segments:
  - name: w
    window: {match: 'event.type == "page"', within: 1m, sum_at_least: 3}
`: {`segment "w": window.sum: required with window.sum_at_least`},
		`
segments:
  - name: s
    sequence: {steps: ['event.type == "page"'], within: 1h}
`: {`segment "s": sequence.steps: 1 given, want at least 2`},
		`
segments:
  - name: s
    sequence: {steps: ['event.type == "page"', 'event.nme == "x"'], within: 1h}
`: {`segment "s": sequence.steps[1]: ERROR`, `undefined field 'nme'`},
		`
segments:
  - name: a
    event: {enter: 'segment("b")'}
  - name: b
    in_segments: {all: [c]}
  - name: c
    event: {enter: 'event.type == "page" && segment("a")'}
`: {`segment "a": refers to itself through segment membership: cycle a → b → c → a`},
		`
segments:
  - name: a
    event: {enter: 'segment("a")'}
`: {`cycle a → a`},
		`
segments:
  - name: a
    event: {enter: 'segment("nope") || segment(event.name)'}
`: {`segment "a": event.enter: ERROR`, `segment() takes a segment name in quotes`},
		`
segments:
  - name: a
    event: {enter: 'segment("nope")'}
  - name: b
    in_segments: {any: [zz]}
`: {`segment "a": event.enter: segment("nope"): no such segment`, `segment "b": in_segments.any: segment("zz"): no such segment`},
		`
segments:
  - name: a
    event: {enter: 'profile.segments.exists(s, s.startsWith("x"))'}
`: {`segment "a": event.enter: profile.segments can only be read as segment("name")`},
		`
computed:
  - name: ltv
    aggregate: avg
  - name: n
    aggregate: count
    where: profile.computed.ltv > 0
  - name: s
    aggregate: sum
    value: event.name
  - name: l
    aggregate: last
    value: event.properties
segments:
  - name: a
    event: {enter: 'profile.computed.lvt > 100.0'}
`: {`computed "ltv": aggregate: "avg", want count, sum`, `computed "n": where: computed traits read event only`,
			`computed "s": value: must be a numeric expression, is string`,
			`computed "l": value: must be a scalar (string, number, bool or timestamp) expression, is map(string, dyn)`,
			`segment "a": event.enter: profile.computed.lvt: no such computed trait`},
	}
	for src, wants := range cases {
		_, err := ParseDefinitions([]byte(src))
		require.Error(t, err, src)
		for _, w := range wants {
			require.Contains(t, err.Error(), w, src)
		}
	}
}

func TestWindowSumTimerSkipsHarmlessExpiries(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	add := func(at time.Time, price string) *schemas.EnrichedEvent {
		return h.event("p", "track", "Product Added", at, props(`{"price":`+price+`}`))
	}
	got := h.run(add(at(0), "5"), add(at(10*time.Minute), "100"), add(at(20*time.Minute), "10"))
	requireTransitions(t, got, want{"big_basket", "p", schemas.Entered, at(10 * time.Minute)})
	v, _ := h.store.Get(profilePrefix + "p")
	st, err := decodeState(v)
	require.NoError(t, err)
	require.Equal(t, at(70*time.Minute).UnixMilli(), st.Segments["big_basket"].Due,
		"the 5 expiring at 1h leaves 110: the timer is the expiry of the 100")
	require.Empty(t, h.run(h.event("q", "track", "X", at(70*time.Minute-time.Millisecond))))
	requireTransitions(t, h.run(h.event("q", "track", "X", at(70*time.Minute))),
		want{"big_basket", "p", schemas.Exited, at(70 * time.Minute)})
}

func TestWindowLateEvent(t *testing.T) {
	h := newHarness(t, testConfig(), windowDefs)
	require.Empty(t, h.run(h.event("p", "page", "", at(0)), h.event("p", "page", "", at(5*time.Minute))))
	// A view that happened at 2m arrives now: the window at 5m holds 3.
	got := h.run(h.event("p", "page", "", at(2*time.Minute)))
	requireTransitions(t, got, want{"browsing", "p", schemas.Entered, at(5 * time.Minute)})
	// One from before the window (at -6m) does not count.
	h2 := newHarness(t, testConfig(), windowDefs)
	require.Empty(t, h2.run(h2.event("p", "page", "", at(0)), h2.event("p", "page", "", at(5*time.Minute)),
		h2.event("p", "page", "", at(-6*time.Minute))))
}

func TestWindowStateOutlivesItsWindowForLateEvents(t *testing.T) {
	// Two views, then the partition's event time moves far ahead (another
	// profile; or, after a restart, other partitions while this one
	// catches up): a third view that happened within 10 minutes of the
	// first two but arrives late still completes the window.
	h := newHarness(t, testConfig(), windowDefs)
	require.Empty(t, h.run(h.event("p", "page", "", at(0)), h.event("p", "page", "", at(time.Minute))))
	require.Empty(t, h.run(h.event("q", "track", "X", at(30*time.Minute))))
	// It enters, and as the watermark is past its exit (the view at 0
	// expiring at 10m), the next tick decides the exit at once.
	requireTransitions(t, h.run(h.event("p", "page", "", at(2*time.Minute))),
		want{"browsing", "p", schemas.Entered, at(2 * time.Minute)},
		want{"browsing", "p", schemas.Exited, at(10 * time.Minute)})
}
