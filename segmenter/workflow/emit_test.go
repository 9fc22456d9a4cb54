package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

func TestParseEmit(t *testing.T) {
	wfs, err := parse(t, `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions:
      - emit: {event: Cart Reminder Sent, properties: {channel: email, step: 1, tags: [a, b]}}
      - set_traits: {traits: {cart_reminded: true, reminders: 1, last: cart}}
`)
	require.NoError(t, err)
	a, b := wfs[0].Actions[0], wfs[0].Actions[1]
	require.Equal(t, "emit", a.Kind())
	require.Equal(t, &Emit{Type: "track", Event: "Cart Reminder Sent", JSON: `{"channel":"email","step":1,"tags":["a","b"]}`,
		Consent: "personalisation", kindName: "emit"}, a.Emit)
	require.Equal(t, "set_traits", b.Kind())
	require.Equal(t, `{"cart_reminded":true,"last":"cart","reminders":1}`, b.Emit.JSON)
	require.True(t, NeedsContacts(wfs))
	require.True(t, needsProfiles(wfs))

	_, err = parse(t, `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions:
      - emit: {consent: everything}
      - set_traits: {traits: {nested: {a: 1}}}
      - set_traits: {}
`)
	require.Error(t, err)
	for _, want := range []string{
		`workflow "w": actions[0].emit.event: "", want a name of 1 to 200 bytes`,
		`workflow "w": actions[0].emit.consent: "everything"`,
		`workflow "w": actions[1].set_traits.traits.nested: map[a:1] is not a string, number or boolean`,
		`workflow "w": actions[2].set_traits.traits: at least one is required`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

// TestEmitEvents: the events go to the raw topic with the profile's own
// identifiers (the contact directory), a deterministic messageId, the
// transition's consent, and only with the consent the action needs.
func TestEmitEvents(t *testing.T) {
	e := newMailEnv(t)
	e.enriched(t, &schemas.EnrichedEvent{Raw: schemas.RawEvent{EventID: "e1", Type: "track", Event: "Product Added",
		UserID: "ann", AnonymousID: "anon-ann", Consent: marketing}, ProfileID: "ann", EventTime: time.Now().UnixMilli()})
	_, reg, stop := e.consumer(t, `          smtp: {host: 127.0.0.1, port: 9, tls: none}
          from: shop@shop.example
          subject: s
          text: t
          consent: advertising
      - emit: {event: Cart Reminder Sent, properties: {channel: email}}
      - set_traits: {traits: {cart_reminded: true}}
`)
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_contact_changes_total", map[string]string{"result": "updated"}) == 1
	}, 10*time.Second, 10*time.Millisecond, "identifiers kept without traits")
	ghost := sampleTransition("t-2", "ghost", true)
	noPers := sampleTransition("t-3", "ann", true)
	noPers.Consent.Personalisation = false
	e.transition(t, sampleTransition("t-1", "ann", true), ghost, noPers)
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "emit", "outcome": "done"}) == 2 &&
			counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "set_traits", "outcome": "done"}) == 2 &&
			counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "emit", "outcome": "no_consent"}) == 1
	}, 20*time.Second, 20*time.Millisecond)
	stop()
	require.Equal(t, 3.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "email", "outcome": "no_consent"}))

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(testTopics().Raw),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	byID := map[string]*schemas.RawEvent{}
	keys := map[string]string{}
	for len(byID) < 4 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, fs.Err())
		for _, r := range fs.Records() {
			ev, err := e.serde.DecodeRaw(ctx, r.Value)
			require.NoError(t, err)
			byID[ev.EventID] = ev
			keys[ev.EventID] = string(r.Key)
		}
	}
	require.Len(t, byID, 4)
	track := byID[EmitEventID("t-1", "remind", 1)]
	require.NotNil(t, track)
	require.Equal(t, "track", track.Type)
	require.Equal(t, "Cart Reminder Sent", track.Event)
	require.Equal(t, "ann", track.UserID)
	require.Equal(t, "anon-ann", track.AnonymousID)
	require.Equal(t, "anon-ann", keys[track.EventID], "keyed as the collector keys it: the anonymous id")
	require.Equal(t, EmitSource, track.Source)
	require.Equal(t, EmitUserAgent, track.UserAgent)
	require.JSONEq(t, `{"channel":"email"}`, track.PropertiesJSON)
	require.JSONEq(t, `{"workflow":{"name":"remind","transition_id":"t-1","segment":"cart_abandoned"}}`, track.ContextJSON)
	require.True(t, track.Consent.Marketing)
	require.Equal(t, "workflow", track.ConsentSignal.Origin)
	id := byID[EmitEventID("t-1", "remind", 2)]
	require.Equal(t, "identify", id.Type)
	require.JSONEq(t, `{"cart_reminded":true}`, id.TraitsJSON)
	g := byID[EmitEventID("t-2", "remind", 1)]
	require.Equal(t, "ghost", g.UserID, "not in the directory: the profile id as user id")
	require.Empty(t, g.AnonymousID)
	require.NotEqual(t, EmitEventID("t-1", "remind", 1), EmitEventID("t-1", "remind", 2))
}
