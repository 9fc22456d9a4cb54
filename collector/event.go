package collector

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sillage/sillage/schemas"
)

// requestMeta is what the request itself says about every event in it.
type requestMeta struct {
	source      string
	receivedAt  int64 // Unix ms
	ip          string
	userAgent   string
	clientHints map[string]string
	gpc         bool
}

type wireContext struct {
	Page      json.RawMessage `json:"page"`
	UserAgent looseString     `json:"userAgent"`
	Locale    looseString     `json:"locale"`
	Library   json.RawMessage `json:"library"`
	Consent   json.RawMessage `json:"consent"`
}

type wirePage struct {
	URL      looseString `json:"url"`
	Path     looseString `json:"path"`
	Referrer looseString `json:"referrer"`
	Title    looseString `json:"title"`
}

type wireLibrary struct {
	Name    looseString `json:"name"`
	Version looseString `json:"version"`
}

type wireConsent struct {
	CategoryPreferences json.RawMessage `json:"categoryPreferences"`
	// The raw signals the tag read: the IAB TCF v2 string of a CMP on the
	// page, and navigator.globalPrivacyControl. Kept beside the vector.
	TCF string `json:"tcf"`
	GPC bool   `json:"gpc"`
}

// toRaw checks one event and turns it into the raw event produced to Kafka.
// Index is its place in a batch (-1 for a single-event endpoint).
func toRaw(w *wireEvent, index int, env *envelope, meta *requestMeta) (schemas.RawEvent, *apiError) {
	p := ""
	if index >= 0 {
		p = "batch[" + strconv.Itoa(index) + "]."
	}
	var e schemas.RawEvent
	switch {
	case w.Type == "":
		return e, badEvent(p+"type", "missing, want one of track, page, screen, identify, group, alias")
	case !eventTypes[w.Type]:
		return e, badEvent(p+"type", "%q is not one of track, page, screen, identify, group, alias", w.Type)
	case w.UserID == "" && w.AnonymousID == "":
		return e, badEvent(p+"userId", "neither userId nor anonymousId is set")
	case w.Type == "track" && w.Event == "":
		return e, badEvent(p+"event", "a track call needs an event name")
	case w.Type == "alias" && (w.PreviousID == "" || w.UserID == ""):
		return e, badEvent(p+"previousId", "an alias call needs previousId and userId")
	case w.Type == "group" && w.GroupID == "":
		return e, badEvent(p+"groupId", "a group call needs a groupId")
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"context", w.Context}, {"properties", w.Properties}, {"traits", w.Traits}} {
		if !isNull(f.raw) && f.raw[0] != '{' {
			return e, badEvent(p+f.name, "want an object, got JSON %s", jsonKind(f.raw))
		}
	}
	e = schemas.RawEvent{
		EventID:     string(w.MessageID),
		Source:      meta.source,
		Type:        w.Type,
		AnonymousID: string(w.AnonymousID),
		UserID:      string(w.UserID),
		PreviousID:  string(w.PreviousID),
		GroupID:     string(w.GroupID),
		ReceivedAt:  meta.receivedAt,
		IP:          meta.ip,
		ClientHints: meta.clientHints,
	}
	if e.EventID == "" {
		e.EventID = uuid.NewString()
	}
	switch w.Type {
	case "track":
		e.Event = w.Event
	case "page", "screen":
		e.Event = w.Name
	}

	var err *apiError
	ts := w.Timestamp
	if ts == "" {
		ts = w.OriginalTimestamp
	}
	if e.Timestamp, err = parseTime(p+"timestamp", ts, meta.receivedAt); err != nil {
		return e, err
	}
	sentAt := w.SentAt
	if sentAt == "" {
		sentAt = env.sentAt
	}
	if e.SentAt, err = parseTime(p+"sentAt", sentAt, 0); err != nil {
		return e, err
	}

	ctxRaw := w.Context
	if isNull(ctxRaw) {
		ctxRaw = env.context
	}
	var c, batchCtx wireContext
	looseObject(ctxRaw, &c)
	if env.batch && !isNull(env.context) {
		looseObject(env.context, &batchCtx)
	}
	var page wirePage
	looseObject(c.Page, &page)
	if w.Type == "page" && page.URL == "" && page.Path == "" {
		looseObject(w.Properties, &page)
	}
	e.PageURL, e.PagePath, e.PageReferrer, e.PageTitle = string(page.URL), string(page.Path), string(page.Referrer), string(page.Title)
	e.Locale = string(c.Locale)
	e.UserAgent = string(c.UserAgent)
	if e.UserAgent == "" {
		e.UserAgent = meta.userAgent
	}
	var lib wireLibrary
	if looseObject(c.Library, &lib); lib.Name == "" {
		looseObject(batchCtx.Library, &lib)
	}
	e.LibraryName, e.LibraryVersion = string(lib.Name), string(lib.Version)

	consentRaw := c.Consent
	if isNull(consentRaw) {
		consentRaw = batchCtx.Consent
	}
	var wc wireConsent
	looseObject(consentRaw, &wc)
	e.Consent, e.ConsentSignal = normaliseConsent(wc.CategoryPreferences, meta.gpc || wc.GPC)
	e.ConsentSignal.TCF = truncateSignal(wc.TCF)

	e.ContextJSON = compactObject(ctxRaw)
	e.PropertiesJSON = compactObject(w.Properties)
	e.TraitsJSON = compactObject(w.Traits)
	return e, nil
}

// parseTime parses an ISO-8601 date-time to Unix ms; empty gives def.
func parseTime(field, s string, def int64) (int64, *apiError) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Some clients write the offset without a colon (+0000).
		if t2, err2 := time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err2 == nil {
			t, err = t2, nil
		}
	}
	if err != nil {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return 0, badEvent(field, "%q is not an ISO-8601 date-time like 2024-05-01T12:00:00.000Z", s)
	}
	return t.UnixMilli(), nil
}

// looseObject decodes raw into v when it is a JSON object, and ignores it
// otherwise.
func looseObject(raw json.RawMessage, v any) {
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, v)
	}
}

// compactObject returns an object's compact JSON, "{}" for null or absent.
func compactObject(raw json.RawMessage) string {
	if isNull(raw) {
		return "{}"
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(raw)))
	if json.Compact(buf, raw) != nil {
		return "{}"
	}
	return buf.String()
}
