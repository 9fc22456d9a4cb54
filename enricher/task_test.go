package enricher

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

func geoConfig(tb testing.TB) Config {
	c := DefaultConfig()
	c.GeoIPPath = cityDB(tb)
	return c
}

func TestProcessEnrichesAnEvent(t *testing.T) {
	h := newHarness(t, geoConfig(t))
	p := h.newPartition(t, nil)

	at := fixedNow.Add(-time.Minute)
	raw := baseEvent("m-1", "anon-1", at)
	raw.SentAt = raw.Timestamp + 3600_000 // device clock one hour ahead…
	raw.Timestamp += 3600_000 - 500       // …and the event was created 500 ms before sending
	rec, ev := p.enriched(t, raw)

	require.Equal(t, "anon-1", string(rec.Key), "keyed by profile id")
	require.Equal(t, "anon-1", ev.ProfileID)
	require.Equal(t, at.UnixMilli()-500, ev.EventTime, "clock skew removed")
	require.Equal(t, int64(3600_000), ev.ClockSkewMs)
	require.False(t, ev.TimeClamped)
	require.Equal(t, "GB", ev.Geo.CountryCode)
	require.Equal(t, "London", ev.Geo.City)
	require.Equal(t, "81.2.69.160", ev.Raw.IP, "kept whole with analytics consent")
	require.Equal(t, "Chrome", ev.UA.Browser)
	require.Equal(t, "Windows", ev.UA.OS)
	require.Len(t, ev.SessionID, 32)
	require.Equal(t, int32(1), ev.SessionIndex)
	require.Equal(t, fixedNow.UnixMilli(), ev.EnrichedAt)
	require.Equal(t, "m-1", ev.Raw.EventID)
	require.Equal(t, "https://shop.example/", ev.Raw.PageURL)

	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_events_in_total"))
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_events_out_total"))
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_sessions_started_total"))
}

func TestConsentTruncatesIPBeforeGeo(t *testing.T) {
	h := newHarness(t, geoConfig(t))
	p := h.newPartition(t, nil)
	raw := baseEvent("m-1", "anon-1", fixedNow)
	raw.Consent = schemas.NecessaryOnly()
	_, ev := p.enriched(t, raw)
	require.Equal(t, "81.2.69.0", ev.Raw.IP, "only the truncated address is kept")
	// 81.2.69.160 is London in the test database, 81.2.69.0 is unknown:
	// an empty location proves the lookup used the truncated address.
	require.Equal(t, schemas.Geo{}, ev.Geo)
}

func TestFutureEventsAreClamped(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	raw := baseEvent("m-1", "anon-1", fixedNow)
	raw.SentAt = 0
	raw.Timestamp = fixedNow.Add(2 * time.Hour).UnixMilli()
	_, ev := p.enriched(t, raw)
	require.True(t, ev.TimeClamped)
	require.Equal(t, raw.ReceivedAt, ev.EventTime)
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_time_clamped_total"))
}

func TestReceivedAtFallsBackToRecordTime(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	raw := baseEvent("m-1", "anon-1", fixedNow)
	raw.ReceivedAt, raw.SentAt, raw.Timestamp = 0, 0, 0
	_, ev := p.enriched(t, raw)
	require.Equal(t, fixedNow.UnixMilli(), ev.EventTime, "the record timestamp stands in for receipt")
}

func TestIdentityStitchingThroughTheTask(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)

	rec, _ := p.enriched(t, baseEvent("m-1", "anon-1", fixedNow))
	require.Equal(t, "anon-1", string(rec.Key))

	identify := baseEvent("m-2", "anon-1", fixedNow.Add(time.Minute))
	identify.Type, identify.UserID = "identify", "user-42"
	rec, ev0 := p.enriched(t, identify)
	require.Equal(t, "user-42", string(rec.Key))
	require.Equal(t, []*schemas.Correction{{
		ID:   schemas.CorrectionID("PROFILES_MERGED", "anon-1", "user-42", "m-2"),
		Kind: schemas.ProfilesMerged, ProfileID: "user-42", From: "anon-1", Into: "user-42", VisitorID: "anon-1",
		CauseEventID: "m-2", Source: "web", EventTime: ev0.EventTime, CorrectedAt: fixedNow.UnixMilli(),
	}}, p.lastCorrections(t), "the login merges the anonymous profile, whose history was keyed anon-1")

	rec, ev := p.enriched(t, baseEvent("m-3", "anon-1", fixedNow.Add(2*time.Minute)))
	require.Equal(t, "user-42", string(rec.Key), "later anonymous events go to the stitched profile")
	require.Empty(t, p.lastCorrections(t))
	again := identify
	again.EventID = "m-2b"
	p.enriched(t, again)
	require.Empty(t, p.lastCorrections(t), "one merge per link")
	require.Equal(t, int32(1), ev.SessionIndex, "logging in does not split the session")

	placeholder := baseEvent("m-4", "null", fixedNow)
	placeholder.UserID = "user-7"
	rec, _ = p.enriched(t, placeholder)
	require.Equal(t, "user-7", string(rec.Key))
	rec, _ = p.enriched(t, baseEvent("m-5", "anon-9", fixedNow))
	require.Equal(t, "anon-9", string(rec.Key))
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_identity_links_total"), "placeholder ids are never linked")
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_corrections_total", "kind", "PROFILES_MERGED"))
}

func TestSessionsThroughTheTaskSurviveRestart(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	changelogs := map[string][]*kgo.Record{}
	collect := func() {
		for name, s := range p.stores {
			changelogs[name] = append(changelogs[name], s.Changelog()...)
		}
	}

	_, e1 := p.enriched(t, baseEvent("m-1", "anon-1", fixedNow))
	_, e2 := p.enriched(t, baseEvent("m-2", "anon-1", fixedNow.Add(20*time.Minute)))
	_, o1 := p.enriched(t, baseEvent("m-3", "anon-2", fixedNow))
	require.Equal(t, e1.SessionID, e2.SessionID)
	require.NotEqual(t, e1.SessionID, o1.SessionID)
	p.tick(t)
	collect()
	require.Len(t, changelogs[StoreSessions], 2, "one session record per visitor per batch")

	// Crash after the committed batch: restore from the changelog.
	p = p.restart(t, changelogs)
	_, e3 := p.enriched(t, baseEvent("m-4", "anon-1", fixedNow.Add(45*time.Minute)))
	require.Equal(t, e1.SessionID, e3.SessionID, "25 minutes after the last event: same session after restart")
	_, e4 := p.enriched(t, baseEvent("m-5", "anon-1", fixedNow.Add(30*time.Minute)))
	require.Equal(t, e1.SessionID, e4.SessionID, "out of order within the session")
	_, e5 := p.enriched(t, baseEvent("m-6", "anon-1", fixedNow.Add(80*time.Minute)))
	require.NotEqual(t, e1.SessionID, e5.SessionID, "35 minutes of inactivity")
	require.Equal(t, int32(2), e5.SessionIndex)

	// An uncommitted batch (no Tick, then a crash) leaves no trace: the
	// replayed records get the same answers.
	before := e5.SessionID
	p = p.restart(t, changelogs)
	_, again := p.enriched(t, baseEvent("m-6", "anon-1", fixedNow.Add(80*time.Minute)))
	require.Equal(t, before, again.SessionID, "deterministic session id on replay")
}

func TestLateEventsMergeSessionsAndCampaignsSplitThem(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)

	_, first := p.enriched(t, baseEvent("m-1", "anon-1", fixedNow))
	_, second := p.enriched(t, baseEvent("m-2", "anon-1", fixedNow.Add(50*time.Minute)))
	require.NotEqual(t, first.SessionID, second.SessionID, "50 minutes of inactivity")
	require.Equal(t, int32(2), second.SessionIndex)
	require.Empty(t, p.lastCorrections(t))

	// A late event at +25 min closes the gap: the second session merges
	// into the first, and downstream is told.
	_, late := p.enriched(t, baseEvent("m-3", "anon-1", fixedNow.Add(25*time.Minute)))
	require.Equal(t, first.SessionID, late.SessionID)
	require.Equal(t, []*schemas.Correction{{
		ID:   schemas.CorrectionID("SESSIONS_MERGED", second.SessionID, first.SessionID, "m-3"),
		Kind: schemas.SessionsMerged, ProfileID: "anon-1", From: second.SessionID, Into: first.SessionID, VisitorID: "anon-1",
		FromIndex: 2, IntoIndex: 1,
		CauseEventID: "m-3", Source: "web", EventTime: late.EventTime, CorrectedAt: fixedNow.UnixMilli(),
	}}, p.lastCorrections(t))
	_, after := p.enriched(t, baseEvent("m-4", "anon-1", fixedNow.Add(60*time.Minute)))
	require.Equal(t, first.SessionID, after.SessionID, "the merged session goes on")
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_corrections_total", "kind", "SESSIONS_MERGED"))

	// A campaign starts a session even within the timeout; reloading the
	// same landing URL does not; an event without a campaign stays in it.
	ad := baseEvent("m-5", "anon-1", fixedNow.Add(61*time.Minute))
	ad.PageURL = "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=winter"
	_, c1 := p.enriched(t, ad)
	require.NotEqual(t, first.SessionID, c1.SessionID)
	require.Equal(t, int32(2), c1.SessionIndex)
	ad.EventID = "m-6"
	_, c2 := p.enriched(t, ad)
	require.Equal(t, c1.SessionID, c2.SessionID, "same campaign, same session")
	_, plain := p.enriched(t, baseEvent("m-7", "anon-1", fixedNow.Add(62*time.Minute)))
	require.Equal(t, c1.SessionID, plain.SessionID)
	other := baseEvent("m-8", "anon-1", fixedNow.Add(63*time.Minute))
	other.PageURL = "https://shop.example/p/1?gclid=Cj0KCQ"
	_, c3 := p.enriched(t, other)
	require.NotEqual(t, c1.SessionID, c3.SessionID, "another campaign (an ad click)")
	require.Equal(t, int32(3), c3.SessionIndex)

	// Beyond the lateness bound (24 h by default) an event gets a session
	// of its own and is counted; state is untouched.
	_, old := p.enriched(t, baseEvent("m-9", "anon-1", fixedNow.Add(-25*time.Hour)))
	require.Zero(t, old.SessionIndex)
	require.NotEqual(t, first.SessionID, old.SessionID)
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_late_events_total"))
}

func TestFailuresAreRouted(t *testing.T) {
	valid := baseEvent("m-1", "anon-1", fixedNow)
	tests := []struct {
		name       string
		modify     func(*schemas.RawEvent)
		value      []byte // used instead of the encoded event when set
		recordTime time.Time
		reason     string
		detail     string
	}{
		{name: "not avro", value: []byte("{\"json\":true}"), reason: ReasonUndecodable, detail: "magic byte"},
		{name: "unknown schema id", value: []byte{0, 0, 0, 0, 99, 1, 2}, reason: ReasonUndecodable, detail: "schema id 99"},
		{name: "truncated avro", value: []byte{0, 0, 0, 0, 1, 2}, reason: ReasonUndecodable, detail: "schema id 1"},
		{name: "missing event id", modify: func(e *schemas.RawEvent) { e.EventID = "" }, reason: ReasonMissingEventID},
		{name: "empty type", modify: func(e *schemas.RawEvent) { e.Type = "" }, reason: ReasonInvalidType, detail: `""`},
		{name: "invalid type", modify: func(e *schemas.RawEvent) { e.Type = "purchase" }, reason: ReasonInvalidType, detail: `"purchase"`},
		{name: "placeholder ids", modify: func(e *schemas.RawEvent) { e.AnonymousID, e.UserID = "undefined", "0" }, reason: ReasonMissingID},
		{name: "no ids", modify: func(e *schemas.RawEvent) { e.AnonymousID, e.UserID = "", "" }, reason: ReasonMissingID},
		{name: "no receipt time", modify: func(e *schemas.RawEvent) { e.ReceivedAt = 0 }, recordTime: time.UnixMilli(0), reason: ReasonInvalidTime},
	}
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := valid
			value := tt.value
			if value == nil {
				tt.modify(&raw)
				var err error
				value, err = h.serde.Encode(schemas.KindRaw, &raw, nil)
				require.NoError(t, err)
			}
			ts := fixedNow
			if !tt.recordTime.IsZero() {
				ts = tt.recordTime
			}
			offset := p.offset
			p.offset++
			rec := &kgo.Record{Topic: testTopics.Raw, Partition: 3, Offset: offset, Key: []byte("k"), Value: value, Timestamp: ts}
			before := p.out.Len()
			require.NoError(t, p.task.Process(context.Background(), rec, p.out), "bad input is never an error")
			require.Equal(t, before+1, p.out.Len())
			out := p.out.Records()[before]
			require.Equal(t, testTopics.Failed, out.Topic)
			require.Equal(t, "k", string(out.Key))
			f, err := h.serde.DecodeFailed(context.Background(), out.Value)
			require.NoError(t, err)
			require.Equal(t, tt.reason, f.Reason)
			require.Contains(t, f.Detail, tt.detail)
			require.Equal(t, "enricher/"+testTopics.Raw+"/3/"+strconv.FormatInt(offset, 10), f.ID)
			require.Equal(t, "enricher", f.Stage)
			require.Equal(t, value, f.Payload, "original bytes kept for replay")
			require.Equal(t, testTopics.Raw, f.SourceTopic)
			require.Equal(t, int32(3), f.SourcePartition)
			require.Equal(t, offset, f.SourceOffset)
			require.Equal(t, fixedNow.UnixMilli(), f.FailedAt)
			if tt.value == nil && raw.EventID != "" {
				require.Equal(t, raw.EventID, f.EventID)
				require.Equal(t, "web", f.Source)
			}
			require.GreaterOrEqual(t, h.metric(t, "sillage_enricher_events_failed_total", "reason", tt.reason), 1.0)
		})
	}
	require.Equal(t, float64(len(tests)), h.metric(t, "sillage_enricher_events_in_total"))
	require.Zero(t, h.metric(t, "sillage_enricher_events_out_total"))
	p.tick(t)
	require.Zero(t, p.stores[StoreSessions].Len(), "rejected events leave no session state")
	require.Zero(t, p.stores[StoreIdentities].Len())
}

func TestRetriedEventsAreDroppedAndConflictsRouted(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	first := baseEvent("m-dup", "a", fixedNow)
	p.enriched(t, first)
	retry := first
	retry.ReceivedAt += 5000 // a retry arrives later with the same content
	v, err := h.serde.Encode(schemas.KindRaw, &retry, nil)
	require.NoError(t, err)
	require.Empty(t, p.feed(t, retry.Key(), v), "a retried copy produces nothing")
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_duplicates_total"))

	other := first
	other.Event = "Something Else"
	other.Type = "track"
	rec := p.send(t, other)
	require.Equal(t, testTopics.Failed, rec.Topic, "a different event reusing the id is routed, not dropped")
	f, err := h.serde.DecodeFailed(context.Background(), rec.Value)
	require.NoError(t, err)
	require.Equal(t, ReasonDuplicateID, f.Reason)

	// After a restart the filter still knows the id.
	p.tick(t)
	changelogs := map[string][]*kgo.Record{}
	for name, s := range p.stores {
		changelogs[name] = s.Changelog()
	}
	p2 := p.restart(t, changelogs)
	require.Empty(t, p2.feed(t, retry.Key(), v), "still a duplicate after restore")
}

func TestBotsAreFlaggedKeptAndKeptOutOfSessions(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)

	raw := baseEvent("m-bot", "anon-bot", fixedNow)
	raw.UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	_, ev := p.enriched(t, raw)
	require.True(t, ev.Bot)
	require.Equal(t, "crawler-list", ev.BotReason[:len("crawler-list")], ev.BotReason)
	require.Empty(t, ev.SessionID, "a flagged bot gets no session by default")
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_bots_total", "kind", "crawler-list"))
	require.Equal(t, 0.0, h.metric(t, "sillage_enricher_sessions_started_total"))

	_, human := p.enriched(t, baseEvent("m-human", "anon-1", fixedNow))
	require.False(t, human.Bot)
	require.Empty(t, human.BotReason)
	require.NotEmpty(t, human.SessionID)

	cfg := DefaultConfig()
	cfg.BotSessions = true
	h2 := newHarness(t, cfg)
	_, ev = h2.newPartition(t, nil).enriched(t, raw)
	require.True(t, ev.Bot)
	require.NotEmpty(t, ev.SessionID, "enricher.bot-sessions gives bots sessions")
}

func TestReferrerAndCampaignThroughTheTask(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Referrer.InternalDomains = []string{"shop-group.example"}
	h := newHarness(t, cfg)
	p := h.newPartition(t, nil)

	raw := baseEvent("m-search", "anon-1", fixedNow)
	raw.PageReferrer = "https://www.google.de/search?q=laufschuhe+damen"
	_, ev := p.enriched(t, raw)
	require.Equal(t, schemas.Referrer{Medium: "search", Source: "Google", Term: "laufschuhe damen", Host: "www.google.de"}, ev.Referrer)
	require.Equal(t, schemas.Campaign{}, ev.Campaign)

	raw = baseEvent("m-ad", "anon-1", fixedNow)
	raw.PageURL = "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter%20sale&gclid=Cj0KCQ"
	raw.PageReferrer = "https://www.google.com/"
	_, ev = p.enriched(t, raw)
	require.Equal(t, "paid", ev.Referrer.Medium)
	require.Equal(t, "Google", ev.Referrer.Source)
	require.Equal(t, schemas.Campaign{Source: "google", Medium: "cpc", Name: "winter sale", ClickID: "gclid:Cj0KCQ"}, ev.Campaign)

	// The SDK's context.campaign wins over the URL's utm_* values.
	raw = baseEvent("m-ctx", "anon-1", fixedNow)
	raw.PageURL = "https://shop.example/?utm_source=newsletter&utm_medium=email"
	raw.ContextJSON = `{"campaign":{"name":"may","source":"crm"}}`
	_, ev = p.enriched(t, raw)
	require.Equal(t, "email", ev.Referrer.Medium)
	require.Equal(t, schemas.Campaign{Source: "crm", Medium: "email", Name: "may"}, ev.Campaign)

	raw = baseEvent("m-int", "anon-1", fixedNow)
	raw.PageReferrer = "https://blog.shop-group.example/post"
	_, ev = p.enriched(t, raw)
	require.Equal(t, "internal", ev.Referrer.Medium)

	_, ev = p.enriched(t, baseEvent("m-direct", "anon-1", fixedNow))
	require.Equal(t, schemas.Referrer{Medium: "direct"}, ev.Referrer)

	for medium, n := range map[string]float64{"search": 1, "paid": 1, "email": 1, "internal": 1, "direct": 1} {
		require.Equal(t, n, h.metric(t, "sillage_enricher_referrers_total", "medium", medium), medium)
	}
}

func TestClientHintsRefineTheUserAgent(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	raw := baseEvent("m-hints", "anon-1", fixedNow)
	raw.ClientHints = map[string]string{
		"sec-ch-ua-full-version-list": `"Not_A Brand";v="8.0.0.0", "Chromium";v="120.0.6099.130", "Google Chrome";v="120.0.6099.130"`,
		"sec-ch-ua-platform":          `"Windows"`,
		"sec-ch-ua-platform-version":  `"15.0.0"`,
	}
	_, ev := p.enriched(t, raw)
	require.Equal(t, "Chrome", ev.UA.Browser)
	require.Equal(t, "120.0.6099", ev.UA.BrowserVersion)
	require.Equal(t, "11", ev.UA.OSVersion, "Windows 11 behind the reduced Windows NT 10.0")
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_client_hints_applied_total"))

	// The cached parse of the same string is not changed by the hints.
	_, ev = p.enriched(t, baseEvent("m-plain", "anon-2", fixedNow))
	require.Equal(t, "10", ev.UA.OSVersion)

	// analytics.js's context.userAgentData when there are no headers.
	raw = baseEvent("m-sdk", "anon-3", fixedNow)
	raw.ContextJSON = `{"userAgentData":{"platform":"Windows","platformVersion":"14.0.0"}}`
	_, ev = p.enriched(t, raw)
	require.Equal(t, "11", ev.UA.OSVersion)
}
