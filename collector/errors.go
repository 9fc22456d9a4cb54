package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// Refusal reasons: the "error" field of a JSON error answer and the reason
// label of sillage_collector_events_refused_total.
const (
	reasonMalformedJSON    = "malformed_json"
	reasonInvalidEvent     = "invalid_event"
	reasonEventTooLarge    = "event_too_large"
	reasonBodyTooLarge     = "body_too_large"
	reasonBadEncoding      = "bad_content_encoding"
	reasonUnauthorized     = "unauthorized"
	reasonOriginNotAllowed = "origin_not_allowed"
	reasonMethod           = "method_not_allowed"
	reasonNotFound         = "not_found"
	reasonBadRequest       = "bad_request"
	reasonUnavailable      = "kafka_unavailable"
	reasonSpoolFull        = "spool_full"
	reasonEncode           = "unencodable_event"
	reasonRateLimited      = "rate_limited"
	reasonOverloaded       = "overloaded"
)

// apiError is a refusal: an HTTP status, a reason and a detail naming what
// is wrong, how many events it refuses (0 when unknown) and the
// Retry-After it carries, if any.
type apiError struct {
	status     int
	reason     string
	detail     string
	events     int
	retryAfter string
}

func (e *apiError) Error() string { return e.reason + ": " + e.detail }

func newError(status int, reason, format string, args ...any) *apiError {
	return &apiError{status: status, reason: reason, detail: fmt.Sprintf(format, args...)}
}

func badEvent(field, format string, args ...any) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, reason: reasonInvalidEvent, detail: field + ": " + fmt.Sprintf(format, args...)}
}

// jsonError turns an encoding/json error into a refusal naming where in the
// body (prefix, e.g. "batch[3]") the problem is.
func jsonError(prefix string, err error) *apiError {
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
		return badEvent(field, "want %s, got JSON %s", goTypeName(typ.Type.String()), typ.Value)
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

func goTypeName(t string) string {
	switch {
	case t == "string", strings.HasSuffix(t, "idString"):
		return "a string"
	case strings.HasPrefix(t, "[]json.RawMessage"), strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "json.RawMessage"), strings.Contains(t, "struct"), strings.HasPrefix(t, "collector."), strings.HasPrefix(t, "map"):
		return "an object"
	}
	return t
}

type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// writeError answers a refusal as JSON.
func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	b, _ := json.Marshal(errorBody{Error: e.reason, Detail: e.detail})
	ctx.SetStatusCode(e.status)
	if e.retryAfter != "" {
		ctx.Response.Header.Set("Retry-After", e.retryAfter)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

var successBody = []byte(`{"success":true}`)
