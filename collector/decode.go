package collector

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/valyala/fasthttp"
)

// The Segment call types, as the "type" field and the /v1/<type> endpoints
// spell them.
var eventTypes = map[string]bool{
	"track": true, "page": true, "screen": true, "identify": true, "group": true, "alias": true,
}

// wireBatch is the body of POST /v1/batch.
type wireBatch struct {
	Batch    []json.RawMessage `json:"batch"`
	WriteKey string            `json:"writeKey"`
	Context  json.RawMessage   `json:"context"`
	SentAt   string            `json:"sentAt"`
}

// wireEvent is one Segment call as sent on the wire.
type wireEvent struct {
	Type              string          `json:"type"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	MessageID         idString        `json:"messageId"`
	AnonymousID       idString        `json:"anonymousId"`
	UserID            idString        `json:"userId"`
	PreviousID        idString        `json:"previousId"`
	GroupID           idString        `json:"groupId"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	SentAt            string          `json:"sentAt"`
	WriteKey          string          `json:"writeKey"`
	Context           json.RawMessage `json:"context"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
}

// envelope is a decoded request body: its events, still in wire form, and
// what applies to all of them.
type envelope struct {
	writeKey string
	sentAt   string
	context  json.RawMessage // batch-level context (defaults for each event)
	events   []wireEvent
	batch    bool
}

// decodeBody decodes the body of POST /v1/<endpoint>. For a single-event
// endpoint the body is the event and its type is the endpoint's. It checks
// the JSON shape and the size of each event; it does not check the events'
// content (see toRaw).
func decodeBody(endpoint string, body []byte, maxEventBytes int) (*envelope, *apiError) {
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
		env := &envelope{events: make([]wireEvent, 1)}
		if err := json.Unmarshal(body, &env.events[0]); err != nil {
			return nil, jsonError("", err)
		}
		env.events[0].Type = endpoint
		env.writeKey = env.events[0].WriteKey
		return env, nil
	}
	var b wireBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, jsonError("", err)
	}
	if len(b.Batch) == 0 {
		return nil, badEvent("batch", "missing or empty, want an array of events")
	}
	if len(b.Context) > 0 && !isObjectOrNull(b.Context) {
		return nil, badEvent("context", "want an object")
	}
	env := &envelope{writeKey: b.WriteKey, sentAt: b.SentAt, context: b.Context, batch: true, events: make([]wireEvent, len(b.Batch))}
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
			e := jsonError(prefix, err)
			e.events = len(b.Batch)
			return nil, e
		}
		if env.writeKey == "" {
			env.writeKey = env.events[i].WriteKey
		}
	}
	return env, nil
}

var stringType = reflect.TypeOf("")

// idString is an identifier that clients send as a string or a number.
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = idString(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*s = idString(b)
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: stringType}
	}
	return nil
}

// looseString takes a JSON string and ignores anything else: context fields
// are informative, a wrong type there is not worth refusing an event.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if json.Unmarshal(b, &v) == nil {
			*s = looseString(v)
		}
	}
	return nil
}

func jsonKind(b []byte) string {
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

func isObjectOrNull(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '{' || string(b) == "null")
}

func isNull(b json.RawMessage) bool { return len(b) == 0 || string(b) == "null" }
