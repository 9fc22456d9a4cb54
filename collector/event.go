package collector

import (
	"github.com/sillage/sillage/enricher/identity"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fastjson"

	"github.com/sillage/sillage/collector/consent"
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

// wireContext is an event's or a batch's context: its compact JSON and the
// fields the raw event takes from it. A field of the wrong type is ignored:
// context fields are informative, not worth refusing an event for.
type wireContext struct {
	wireObject
	page              wirePage
	userAgent, locale loose
	library           wireLibrary
	consent           wireConsent
}

type wirePage struct{ url, path, referrer, title loose }

func (p *wirePage) merge(o wirePage) {
	p.url.merge(o.url)
	p.path.merge(o.path)
	p.referrer.merge(o.referrer)
	p.title.merge(o.title)
}

type wireLibrary struct{ name, version loose }

type wireConsent struct {
	present bool // neither absent nor null
	prefs   consentPrefs
	// The IAB TC string: tcString (the name __tcfapi's TCData and SDKs
	// use), else tcf (the name the tag sends it under); gdprApplies as
	// the CMP says (a JSON boolean).
	tcString, tcf loose
	applies       consent.Applies
	// Google Consent Mode's gcs (e.g. G111).
	gcs loose
	// navigator.globalPrivacyControl, as the tag read it.
	gpc bool
}

// tc returns the TC string the event carries.
func (c *wireConsent) tc() string {
	if c.tcString.s != "" {
		return c.tcString.s
	}
	return c.tcf.s
}

var contextFields = []string{"page", "userAgent", "locale", "library", "consent"}

// context decodes a context value (nil when absent). Its JSON is taken
// before it is walked (see decoder).
func (d *decoder) context(v *fastjson.Value) wireContext {
	c := wireContext{wireObject: d.object(v)}
	if c.kind != '{' {
		return c
	}
	v.GetObject().Visit(func(key []byte, v *fastjson.Value) {
		switch field(b2s(key), contextFields) {
		case 0:
			c.page = d.page(v)
		case 1:
			d.setLoose(v, &c.userAgent)
		case 2:
			d.setLoose(v, &c.locale)
		case 3:
			c.library = d.library(v)
		case 4:
			c.consent = d.consent(v)
		}
	})
	return c
}

var pageFields = []string{"url", "path", "referrer", "title"}

func (d *decoder) page(v *fastjson.Value) wirePage {
	var p wirePage
	v.GetObject().Visit(func(key []byte, v *fastjson.Value) {
		if i := field(b2s(key), pageFields); i >= 0 {
			d.setLoose(v, [...]*loose{&p.url, &p.path, &p.referrer, &p.title}[i])
		}
	})
	return p
}

var libraryFields = []string{"name", "version"}

func (d *decoder) library(v *fastjson.Value) wireLibrary {
	var l wireLibrary
	v.GetObject().Visit(func(key []byte, v *fastjson.Value) {
		switch field(b2s(key), libraryFields) {
		case 0:
			d.setLoose(v, &l.name)
		case 1:
			d.setLoose(v, &l.version)
		}
	})
	return l
}

var consentFields = []string{"categoryPreferences", "tcf", "gpc", "tcString", "gdprApplies", "gcs"}

func (d *decoder) consent(v *fastjson.Value) wireConsent {
	k, _ := d.leaf(v)
	c := wireConsent{present: k != 'n'}
	v.GetObject().Visit(func(key []byte, v *fastjson.Value) {
		switch field(b2s(key), consentFields) {
		case 0:
			c.prefs = d.prefs(v)
		case 1:
			d.setLoose(v, &c.tcf)
		case 2:
			switch k, _ := d.leaf(v); k {
			case 't', 'f':
				c.gpc = k == 't'
			}
		case 3:
			d.setLoose(v, &c.tcString)
		case 4:
			switch k, _ := d.leaf(v); k {
			case 't':
				c.applies = consent.AppliesYes
			case 'f':
				c.applies = consent.AppliesNo
			}
		case 5:
			d.setLoose(v, &c.gcs)
		}
	})
	return c
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
	case !identity.Usable(w.UserID) && !identity.Usable(w.AnonymousID):
		// The enricher would route it to the failed topic: say so now.
		return e, badEvent(p+"userId", "neither userId (%q) nor anonymousId (%q) identifies anyone (empty or a placeholder such as \"null\", \"undefined\", \"anonymous\", \"0\")",
			truncate(w.UserID, 64), truncate(w.AnonymousID, 64))
	case w.Type == "track" && w.Event == "":
		return e, badEvent(p+"event", "a track call needs an event name")
	case w.Type == "alias" && (w.PreviousID == "" || w.UserID == ""):
		return e, badEvent(p+"previousId", "an alias call needs previousId and userId")
	case w.Type == "group" && w.GroupID == "":
		return e, badEvent(p+"groupId", "a group call needs a groupId")
	}
	for _, f := range [...]struct {
		name string
		o    wireObject
	}{{"context", w.Context.wireObject}, {"properties", w.Properties}, {"traits", w.Traits}} {
		if !f.o.isNull() && f.o.kind != '{' {
			return e, badEvent(p+f.name, "want an object, got JSON %s", kindName(f.o.kind))
		}
	}
	e = schemas.RawEvent{
		EventID:     w.MessageID,
		Source:      meta.source,
		Type:        w.Type,
		AnonymousID: w.AnonymousID,
		UserID:      w.UserID,
		PreviousID:  w.PreviousID,
		GroupID:     w.GroupID,
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

	// The event's context, else the batch's; a few fields fall back on the
	// batch's context field by field.
	c, batchCtx := &w.Context, &env.context
	if c.isNull() {
		c = batchCtx
	}
	page := c.page
	if w.Type == "page" && page.url.s == "" && page.path.s == "" {
		page.merge(w.propsPage)
	}
	e.PageURL, e.PagePath, e.PageReferrer, e.PageTitle = page.url.s, page.path.s, page.referrer.s, page.title.s
	e.Locale = c.locale.s
	e.UserAgent = c.userAgent.s
	if e.UserAgent == "" {
		e.UserAgent = meta.userAgent
	}
	lib := c.library
	if lib.name.s == "" {
		lib.name.merge(batchCtx.library.name)
		lib.version.merge(batchCtx.library.version)
	}
	e.LibraryName, e.LibraryVersion = lib.name.s, lib.version.s

	wc := c.consent
	if !wc.present {
		wc = batchCtx.consent
	}
	sigs := consentSignals{prefs: wc.prefs, tcf: wc.tc(), applies: wc.applies, gcs: wc.gcs.s, gpc: meta.gpc || wc.gpc}
	sigs.fromQuery(&env.query)
	e.Consent, e.ConsentSignal, w.consentErrors = sigs.resolve()

	e.ContextJSON = c.compact()
	e.PropertiesJSON = w.Properties.compact()
	e.TraitsJSON = w.Traits.compact()
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

// truncate cuts s to n bytes for an error message, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
