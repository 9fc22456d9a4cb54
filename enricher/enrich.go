package enricher

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/sillage/sillage/enricher/bots"
	"github.com/sillage/sillage/enricher/identity"
	"github.com/sillage/sillage/enricher/referrer"
	"github.com/sillage/sillage/enricher/ua"
	"github.com/sillage/sillage/schemas"
)

var eventTypes = map[string]bool{"track": true, "page": true, "screen": true, "identify": true, "group": true, "alias": true}

// enrich turns raw into ev in three phases: checks, stateless enrichments
// (time, consent, geo, user agent), then the partition's state (identity,
// session), so that a rejected event leaves no trace in the state. Each
// enrichment is a function or type of its own.
func (t *task) enrich(raw *schemas.RawEvent, recordTime int64, ev *schemas.EnrichedEvent) *rejection {
	if r := check(raw, recordTime); r != nil {
		return r
	}
	e := t.e
	ev.Raw = *raw
	ev.EnrichedAt = e.clock().UnixMilli()

	received := raw.ReceivedAt
	if received <= 0 {
		received = recordTime
	}
	et := correctTime(raw.Timestamp, raw.SentAt, received, e.cfg.FutureBound.Milliseconds())
	ev.EventTime, ev.ClockSkewMs, ev.TimeClamped = et.at, et.skew, et.clamped
	if et.clamped {
		e.m.clamped.Inc()
	}

	// Consent before geo: the full IP of a visitor without analytics
	// consent is never looked up nor kept.
	addr, invalid := enforceIP(&ev.Raw)
	if invalid {
		e.m.invalidIP.Inc()
	}
	if addr.IsValid() {
		if err := e.geo.Lookup(addr, &ev.Geo); err != nil {
			e.m.geoErrors.Inc()
		}
	}

	ev.UA = e.ua.Parse(raw.UserAgent)
	hints := raw.ClientHints // the browser's own headers win over the SDK's copy
	if len(hints) == 0 {
		hints = ua.HintsFromContext(raw.ContextJSON)
	}
	if len(hints) > 0 && ua.ApplyHints(&ev.UA, hints) {
		e.m.clientHints.Inc()
	}
	if ev.Bot, ev.BotReason = e.bots.Check(raw.UserAgent, raw.ClientHints); ev.Bot {
		e.m.bots.WithLabelValues(bots.Kind(ev.BotReason)).Inc()
	}

	var ctxCampaign *schemas.Campaign
	if c, ok := referrer.ContextCampaign(raw.ContextJSON); ok {
		ctxCampaign = &c
	}
	e.ref.Classify(raw.PageURL, raw.PageReferrer, ctxCampaign, &ev.Referrer, &ev.Campaign)
	e.m.referrers.WithLabelValues(ev.Referrer.Medium).Inc()

	n, merges := t.ids.Observe(raw)
	if n > 0 {
		e.m.linksWritten.Add(float64(n))
	}
	t.merges = merges
	ev.ProfileID = t.ids.ProfileID(raw)

	if ev.Bot && !e.cfg.BotSessions {
		return nil // flagged bots get no session
	}
	a, err := t.sessions.Assign(identity.VisitorID(raw), raw.EventID, ev.EventTime, campaignKey(&ev.Campaign))
	if err != nil {
		e.m.stateCorrupt.Inc()
		e.log.Warn("unreadable session state replaced", "partition", t.tp.Partition, "err", err)
	}
	ev.SessionID, ev.SessionIndex = a.ID, a.Index
	if a.New {
		e.m.sessionsStarted.Inc()
	}
	if a.Late {
		e.m.lateEvents.Inc()
	}
	if a.Inserted {
		e.m.sessionsInserted.Inc()
	}
	t.sessionMerges = a.Corrections
	return nil
}

// campaignKey is what makes two campaigns the same for sessionisation:
// source, medium, name and click id (a new ad click is a new visit, a
// reload of the same landing URL is not); "" when the event has none. Long
// keys are hashed so that session state stays small.
func campaignKey(c *schemas.Campaign) string {
	if c.Source == "" && c.Medium == "" && c.Name == "" && c.ClickID == "" {
		return ""
	}
	k := c.Source + "\x1f" + c.Medium + "\x1f" + c.Name + "\x1f" + c.ClickID
	if len(k) > 64 {
		sum := sha256.Sum256([]byte(k))
		k = hex.EncodeToString(sum[:16])
	}
	return k
}

// check rejects what cannot be enriched.
func check(raw *schemas.RawEvent, recordTime int64) *rejection {
	switch {
	case raw.EventID == "":
		return reject(ReasonMissingEventID, "event has no messageId")
	case !eventTypes[raw.Type]:
		return reject(ReasonInvalidType, "type %q is not one of track, page, screen, identify, group, alias", truncate(raw.Type, 64))
	case identity.VisitorID(raw) == "":
		return reject(ReasonMissingID, "neither anonymousId (%q) nor userId (%q) is usable (empty or a placeholder)", truncate(raw.AnonymousID, 64), truncate(raw.UserID, 64))
	case raw.ReceivedAt <= 0 && recordTime <= 0:
		return reject(ReasonInvalidTime, "event has no receivedAt and its record no timestamp")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
