package collector

import (
	"encoding/json"
	"fmt"

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
