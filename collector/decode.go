package collector

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/sillage/sillage/collector/consent"
)

// The Segment call types, as the "type" field and the /v1/<type> endpoints
// spell them.
var eventTypes = map[string]bool{
	"track": true, "page": true, "screen": true, "identify": true, "group": true, "alias": true,
}

// wireEvent is one Segment call as sent on the wire, decoded: what toRaw
// needs of it, copied out of the parser.
type wireEvent struct {
	Type, Event, Name                                   string
	Timestamp, OriginalTimestamp, SentAt, WriteKey      string
	MessageID, AnonymousID, UserID, PreviousID, GroupID string

	Context            wireContext
	Properties, Traits wireObject
	propsPage          wirePage // a page call's page fields found in properties

	// consentErrors are the malformed consent signals toRaw found (the
	// event is kept; accept counts them once the request is accepted).
	consentErrors []consent.SignalError
}

// wireObject is a field that should hold a JSON object: the kind of what
// it holds (see decoder.leaf; 0 when absent) and, for an object, its
// compact JSON.
type wireObject struct {
	kind byte
	json string
}

func (o wireObject) isNull() bool { return o.kind == 0 || o.kind == 'n' }

// compact returns the object's compact JSON, "{}" for null or absent.
func (o wireObject) compact() string {
	if o.kind != '{' {
		return "{}"
	}
	return o.json
}

// envelope is a decoded request body: its events and what applies to all
// of them.
type envelope struct {
	writeKey string
	sentAt   string
	context  wireContext // batch-level context (defaults for each event)
	events   []wireEvent
	batch    bool
	query    consentSignals // a pixel's consent parameters (queryConsent)
}

// decodeBody decodes the body of POST /v1/<endpoint>. For a single-event
// endpoint the body is the event and its type is the endpoint's. It checks
// the JSON shape and the size of each event; it does not check the events'
// content (see toRaw). The body is parsed once; nothing returned refers to
// it.
func decodeBody(endpoint string, body []byte, maxEventBytes int) (*envelope, *apiError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is empty, want a JSON object")
	}
	if body[0] != '{' {
		return nil, newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is not a JSON object")
	}
	if endpoint != "batch" && len(body) > maxEventBytes {
		return nil, &apiError{status: fasthttp.StatusRequestEntityTooLarge, reason: reasonEventTooLarge, events: 1,
			detail: "event is " + strconv.Itoa(len(body)) + " bytes, the limit is " + strconv.Itoa(maxEventBytes)}
	}
	d := getDecoder(len(body))
	defer d.release()
	root, err := d.parse(body)
	if err != nil {
		return nil, err
	}
	if endpoint != "batch" {
		env := &envelope{events: make([]wireEvent, 1)}
		if err := d.event(root.GetObject(), &env.events[0], endpoint, -1); err != nil {
			return nil, err
		}
		env.writeKey = env.events[0].WriteKey
		return env, nil
	}
	// An event cannot be larger than the body: measure them only if it is.
	return d.batch(root.GetObject(), len(body) > maxEventBytes, maxEventBytes)
}

var batchFields = []string{"batch", "writeKey", "context", "sentAt"}

// batch decodes the body of POST /v1/batch. Each event's size is that of
// its compact JSON.
func (d *decoder) batch(o *fastjson.Object, measure bool, maxEventBytes int) (*envelope, *apiError) {
	env := &envelope{batch: true}
	var events []*fastjson.Value
	var ctx *fastjson.Value
	var saved *apiError // the first type error, as encoding/json reports it
	o.Visit(func(key []byte, v *fastjson.Value) {
		var k byte
		switch field(b2s(key), batchFields) {
		case 0:
			switch k, _ = d.leaf(v); k {
			case '[':
				events, k = v.GetArray(), 0
			case 'n':
				events, k = nil, 0
			}
			if k != 0 && saved == nil {
				saved = typeError(-1, "batch", "an array", k)
			}
		case 1:
			if k = d.setString(v, &env.writeKey); k != 0 && saved == nil {
				saved = typeError(-1, "writeKey", "a string", k)
			}
		case 2:
			ctx = v
		case 3:
			if k = d.setString(v, &env.sentAt); k != 0 && saved == nil {
				saved = typeError(-1, "sentAt", "a string", k)
			}
		}
	})
	if saved != nil {
		return nil, saved
	}
	if len(events) == 0 {
		return nil, badEvent("batch", "missing or empty, want an array of events")
	}
	if env.context = d.context(ctx); !env.context.isNull() && env.context.kind != '{' {
		return nil, badEvent("context", "want an object")
	}
	n := len(events)
	env.events = make([]wireEvent, n)
	for i, v := range events {
		if measure {
			if size := len(d.text(v)); size > maxEventBytes {
				return nil, &apiError{status: fasthttp.StatusRequestEntityTooLarge, reason: reasonEventTooLarge, events: n,
					detail: "batch[" + strconv.Itoa(i) + "] is " + strconv.Itoa(size) + " bytes, the limit is " + strconv.Itoa(maxEventBytes)}
			}
		}
		eo := v.GetObject()
		if eo == nil {
			return nil, &apiError{status: fasthttp.StatusBadRequest, reason: reasonInvalidEvent, events: n,
				detail: "batch[" + strconv.Itoa(i) + "]: want an object"}
		}
		if err := d.event(eo, &env.events[i], "", i); err != nil {
			err.events = n
			return nil, err
		}
		if env.writeKey == "" {
			env.writeKey = env.events[i].WriteKey
		}
	}
	return env, nil
}

// The fields of an event, in the order of eventFields.
const (
	fType = iota
	fEvent
	fName
	fTimestamp
	fOriginalTimestamp
	fSentAt
	fWriteKey
	fMessageID
	fAnonymousID
	fUserID
	fPreviousID
	fGroupID
	fContext
	fProperties
	fTraits
)

var eventFields = []string{"type", "event", "name", "timestamp", "originalTimestamp", "sentAt", "writeKey",
	"messageId", "anonymousId", "userId", "previousId", "groupId", "context", "properties", "traits"}

// event decodes one event object into w; typ, when set, is its type
// whatever the body says. Index is its place in a batch (-1 for a
// single-event endpoint). Like encoding/json, a field of the wrong type
// is reported after the whole object was read, except an identifier's,
// which stops it.
func (d *decoder) event(o *fastjson.Object, w *wireEvent, typ string, index int) *apiError {
	strs := [...]*string{fType: &w.Type, fEvent: &w.Event, fName: &w.Name, fTimestamp: &w.Timestamp,
		fOriginalTimestamp: &w.OriginalTimestamp, fSentAt: &w.SentAt, fWriteKey: &w.WriteKey}
	ids := [...]*string{&w.MessageID, &w.AnonymousID, &w.UserID, &w.PreviousID, &w.GroupID}
	var ctx, props, traits *fastjson.Value
	var saved, stop *apiError
	o.Visit(func(key []byte, v *fastjson.Value) {
		if stop != nil {
			return
		}
		switch i := field(b2s(key), eventFields); {
		case i < 0:
		case i <= fWriteKey:
			if k := d.setString(v, strs[i]); k != 0 && saved == nil {
				saved = typeError(index, eventFields[i], "a string", k)
			}
		case i <= fGroupID:
			if k := d.setID(v, ids[i-fMessageID]); k != 0 {
				stop = typeError(index, eventFields[i], "a string", k)
			}
		case i == fContext:
			ctx = v
		case i == fProperties:
			props = v
		case i == fTraits:
			traits = v
		}
	})
	if stop != nil {
		return stop
	}
	if saved != nil {
		return saved
	}
	if typ != "" {
		w.Type = typ
	}
	w.Context = d.context(ctx)
	w.Properties = d.object(props)
	w.Traits = d.object(traits)
	if w.Type == "page" && w.Properties.kind == '{' {
		w.propsPage = d.page(props)
	}
	return nil
}

// typeError is encoding/json's complaint about a field of the wrong type.
func typeError(index int, name, want string, kind byte) *apiError {
	if index >= 0 {
		name = "batch[" + strconv.Itoa(index) + "]." + name
	}
	return badEvent(name, "want %s, got JSON %s", want, kindName(kind))
}
