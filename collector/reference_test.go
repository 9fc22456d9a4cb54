package collector

// The collector's request decoding as it was with encoding/json, kept as
// the reference that FuzzDecodeMatchesReference compares the fastjson
// decoder with: same events, same refusals.

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/collector/consent"
	"github.com/sillage/sillage/enricher/identity"
	"github.com/sillage/sillage/schemas"
)

// refWireBatch is the body of POST /v1/batch.
type refWireBatch struct {
	Batch    []json.RawMessage `json:"batch"`
	WriteKey string            `json:"writeKey"`
	Context  json.RawMessage   `json:"context"`
	SentAt   string            `json:"sentAt"`
}

// refWireEvent is one Segment call as sent on the wire.
type refWireEvent struct {
	Type              string          `json:"type"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	MessageID         refIdString     `json:"messageId"`
	AnonymousID       refIdString     `json:"anonymousId"`
	UserID            refIdString     `json:"userId"`
	PreviousID        refIdString     `json:"previousId"`
	GroupID           refIdString     `json:"groupId"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	SentAt            string          `json:"sentAt"`
	WriteKey          string          `json:"writeKey"`
	Context           json.RawMessage `json:"context"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
}

// refEnvelope is a decoded request body: its events, still in wire form, and
// what applies to all of them.
type refEnvelope struct {
	writeKey string
	sentAt   string
	context  json.RawMessage // batch-level context (defaults for each event)
	events   []refWireEvent
	batch    bool
	query    consentSignals // a pixel's consent parameters
}

// refDecodeBody decodes the body of POST /v1/<endpoint>. For a single-event
// endpoint the body is the event and its type is the endpoint's. It checks
// the JSON shape and the size of each event; it does not check the events'
// content (see refToRaw).
func refDecodeBody(endpoint string, body []byte, maxEventBytes int) (*refEnvelope, *apiError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is empty, want a JSON object")
	}
	if body[0] != '{' {
		return nil, newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is not a JSON object")
	}
	if endpoint != "batch" {
		if len(body) > maxEventBytes {
			return nil, &apiError{status: fasthttp.StatusRequestEntityTooLarge, reason: reasonEventTooLarge, events: 1,
				detail: "event is " + strconv.Itoa(len(body)) + " bytes, the limit is " + strconv.Itoa(maxEventBytes)}
		}
		env := &refEnvelope{events: make([]refWireEvent, 1)}
		if err := json.Unmarshal(body, &env.events[0]); err != nil {
			return nil, refJsonError("", err)
		}
		env.events[0].Type = endpoint
		env.writeKey = env.events[0].WriteKey
		return env, nil
	}
	var b refWireBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, refJsonError("", err)
	}
	if len(b.Batch) == 0 {
		return nil, badEvent("batch", "missing or empty, want an array of events")
	}
	if len(b.Context) > 0 && !refIsObjectOrNull(b.Context) {
		return nil, badEvent("context", "want an object")
	}
	env := &refEnvelope{writeKey: b.WriteKey, sentAt: b.SentAt, context: b.Context, batch: true, events: make([]refWireEvent, len(b.Batch))}
	for i, raw := range b.Batch {
		prefix := "batch[" + strconv.Itoa(i) + "]"
		if len(raw) > maxEventBytes {
			return nil, &apiError{status: fasthttp.StatusRequestEntityTooLarge, reason: reasonEventTooLarge, events: len(b.Batch),
				detail: prefix + " is " + strconv.Itoa(len(raw)) + " bytes, the limit is " + strconv.Itoa(maxEventBytes)}
		}
		if raw[0] != '{' {
			return nil, &apiError{status: fasthttp.StatusBadRequest, reason: reasonInvalidEvent, events: len(b.Batch),
				detail: prefix + ": want an object"}
		}
		if err := json.Unmarshal(raw, &env.events[i]); err != nil {
			e := refJsonError(prefix, err)
			e.events = len(b.Batch)
			return nil, e
		}
		if env.writeKey == "" {
			env.writeKey = env.events[i].WriteKey
		}
	}
	return env, nil
}

var refStringType = reflect.TypeOf("")

// refIdString is an identifier that clients send as a string or a number.
type refIdString string

func (s *refIdString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = refIdString(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*s = refIdString(b)
	default:
		return &json.UnmarshalTypeError{Value: refJsonKind(b), Type: refStringType}
	}
	return nil
}

// refLooseString takes a JSON string and ignores anything else: context fields
// are informative, a wrong type there is not worth refusing an event.
type refLooseString string

func (s *refLooseString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if json.Unmarshal(b, &v) == nil {
			*s = refLooseString(v)
		}
	}
	return nil
}

func refJsonKind(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '"':
		return "string"
	}
	return "number"
}

func refIsObjectOrNull(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '{' || string(b) == "null")
}

func refIsNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }

type refWireContext struct {
	Page      json.RawMessage `json:"page"`
	UserAgent refLooseString  `json:"userAgent"`
	Locale    refLooseString  `json:"locale"`
	Library   json.RawMessage `json:"library"`
	Consent   json.RawMessage `json:"consent"`
}

type refWirePage struct {
	URL      refLooseString `json:"url"`
	Path     refLooseString `json:"path"`
	Referrer refLooseString `json:"referrer"`
	Title    refLooseString `json:"title"`
}

type refWireLibrary struct {
	Name    refLooseString `json:"name"`
	Version refLooseString `json:"version"`
}

type refWireConsent struct {
	CategoryPreferences json.RawMessage `json:"categoryPreferences"`
	// The raw signals: the IAB TC string (tcString, else the tag's tcf),
	// gdprApplies, Consent Mode's gcs, navigator.globalPrivacyControl.
	TCF         string         `json:"tcf"`
	TCString    refLooseString `json:"tcString"`
	GDPRApplies refLooseBool   `json:"gdprApplies"`
	GCS         refLooseString `json:"gcs"`
	GPC         bool           `json:"gpc"`
}

// refLooseBool takes a JSON true or false and ignores anything else.
type refLooseBool struct{ set, v bool }

func (b *refLooseBool) UnmarshalJSON(raw []byte) error {
	switch string(raw) {
	case "true", "false":
		*b = refLooseBool{set: true, v: string(raw) == "true"}
	}
	return nil
}

// refToRaw checks one event and turns it into the raw event produced to Kafka.
// Index is its place in a batch (-1 for a single-event endpoint).
func refToRaw(w *refWireEvent, index int, env *refEnvelope, meta *requestMeta) (schemas.RawEvent, *apiError) {
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
	case !identity.Usable(string(w.UserID)) && !identity.Usable(string(w.AnonymousID)):
		return e, badEvent(p+"userId", "neither userId (%q) nor anonymousId (%q) identifies anyone (empty or a placeholder such as \"null\", \"undefined\", \"anonymous\", \"0\")",
			truncate(string(w.UserID), 64), truncate(string(w.AnonymousID), 64))
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
		if !refIsNull(f.raw) && f.raw[0] != '{' {
			return e, badEvent(p+f.name, "want an object, got JSON %s", refJsonKind(f.raw))
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
	if refIsNull(ctxRaw) {
		ctxRaw = env.context
	}
	var c, batchCtx refWireContext
	refLooseObject(ctxRaw, &c)
	if env.batch && !refIsNull(env.context) {
		refLooseObject(env.context, &batchCtx)
	}
	var page refWirePage
	refLooseObject(c.Page, &page)
	if w.Type == "page" && page.URL == "" && page.Path == "" {
		refLooseObject(w.Properties, &page)
	}
	e.PageURL, e.PagePath, e.PageReferrer, e.PageTitle = string(page.URL), string(page.Path), string(page.Referrer), string(page.Title)
	e.Locale = string(c.Locale)
	e.UserAgent = string(c.UserAgent)
	if e.UserAgent == "" {
		e.UserAgent = meta.userAgent
	}
	var lib refWireLibrary
	if refLooseObject(c.Library, &lib); lib.Name == "" {
		refLooseObject(batchCtx.Library, &lib)
	}
	e.LibraryName, e.LibraryVersion = string(lib.Name), string(lib.Version)

	consentRaw := c.Consent
	if refIsNull(consentRaw) {
		consentRaw = batchCtx.Consent
	}
	var wc refWireConsent
	refLooseObject(consentRaw, &wc)
	// The categories by the reference rules; the signals together by the
	// consent package (tested on its own).
	prefsC, prefsSig := refNormaliseConsent(wc.CategoryPreferences, false)
	sigs := consentSignals{tcf: string(wc.TCString), gcs: string(wc.GCS), gpc: meta.gpc || wc.GPC}
	if sigs.tcf == "" {
		sigs.tcf = wc.TCF
	}
	if prefsSig.Origin == "tag" {
		sigs.prefs = consentPrefs{set: true, json: prefsSig.CategoriesJSON, consent: prefsC}
	}
	if wc.GDPRApplies.set {
		sigs.applies = consent.AppliesNo
		if wc.GDPRApplies.v {
			sigs.applies = consent.AppliesYes
		}
	}
	sigs.fromQuery(&env.query)
	e.Consent, e.ConsentSignal, _ = sigs.resolve()

	e.ContextJSON = refCompactObject(ctxRaw)
	e.PropertiesJSON = refCompactObject(w.Properties)
	e.TraitsJSON = refCompactObject(w.Traits)
	return e, nil
}

// refLooseObject decodes raw into v when it is a JSON object, and ignores it
// otherwise.
func refLooseObject(raw json.RawMessage, v any) {
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, v)
	}
}

// refCompactObject returns an object's compact JSON, "{}" for null or absent.
func refCompactObject(raw json.RawMessage) string {
	if refIsNull(raw) {
		return "{}"
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(raw)))
	if json.Compact(buf, raw) != nil {
		return "{}"
	}
	return buf.String()
}

// refNormaliseConsent builds the consent vector of an event from Segment's
// categoryPreferences object (category → bool) and the Sec-GPC header.
//
// Fail closed: no preferences (absent, null or not an object) gives
// necessary processing only; a category is granted only by a JSON true.
// Global Privacy Control forces marketing and advertising off whatever the
// preferences say. The raw preferences are kept in the signal.
func refNormaliseConsent(prefs json.RawMessage, gpc bool) (schemas.Consent, schemas.ConsentSignal) {
	c := schemas.NecessaryOnly()
	sig := schemas.ConsentSignal{Origin: "none", GPC: gpc}
	prefs = bytes.TrimSpace(prefs)
	var m map[string]json.RawMessage
	if len(prefs) > 0 && prefs[0] == '{' && json.Unmarshal(prefs, &m) == nil {
		sig.Origin = "tag"
		sig.CategoriesJSON = refCompactObject(prefs)
		seen := map[string]bool{}
		granted := map[string]bool{}
		for name, v := range m {
			cat, ok := categoryAliases[normaliseName(name)]
			if !ok {
				continue
			}
			yes := string(bytes.TrimSpace(v)) == "true"
			if seen[cat] {
				granted[cat] = granted[cat] && yes
			} else {
				seen[cat], granted[cat] = true, yes
			}
		}
		c.Analytics = granted["analytics"]
		c.Personalisation = granted["personalisation"]
		c.Marketing = granted["marketing"]
		c.Advertising = granted["advertising"]
	} else if gpc {
		sig.Origin = "gpc"
	}
	if gpc {
		c.Marketing, c.Advertising = false, false
	}
	return c, sig
}

// refJsonError turns an encoding/json error into a refusal naming where in the
// body (prefix, e.g. "batch[3]") the problem is.
func refJsonError(prefix string, err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && syn.Error() == "unexpected end of JSON input":
		return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is truncated JSON")
	case errors.As(err, &syn):
		where := "body"
		if prefix != "" {
			where = prefix
		}
		return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "%s is not valid JSON: %s (at byte %d)", where, syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		if prefix != "" {
			field = prefix + "." + field
			if typ.Field == "" {
				field = prefix
			}
		}
		return badEvent(field, "want %s, got JSON %s", refGoTypeName(typ.Type.String()), typ.Value)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		if prefix != "" && !strings.HasPrefix(ae.detail, prefix) {
			ae.detail = prefix + "." + ae.detail
		}
		return ae
	}
	return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "%s", err.Error())
}

func refGoTypeName(t string) string {
	switch {
	case t == "string", strings.HasSuffix(t, "refIdString"):
		return "a string"
	case strings.HasPrefix(t, "[]json.RawMessage"), strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "json.RawMessage"), strings.Contains(t, "struct"), strings.HasPrefix(t, "collector."), strings.HasPrefix(t, "map"):
		return "an object"
	}
	return t
}
