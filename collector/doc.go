// Package collector is Sillage's public HTTP endpoint: Segment's HTTP
// tracking API (POST /v1/batch, /v1/track, /v1/page, /v1/screen,
// /v1/identify, /v1/group, /v1/alias), the browser tag (GET /tag.js), a demo
// shop page (GET /demo), and /healthz and /readyz, on fasthttp.
//
// # What it guarantees
//
//   - Nothing acknowledged is lost: a request gets 200 {"success":true} only
//     after Kafka acknowledged every one of its events on the raw topic
//     (the producer it is given is idempotent with acks=all). When any event
//     fails or Kafka does not answer within ProduceTimeout, the request gets
//     503 with Retry-After, never a 200; some of its events may still have
//     reached Kafka, so a client retry can duplicate them: events keep their
//     messageId (one is generated when missing), which is what downstream
//     deduplication keys on. A fasthttp worker never waits longer than
//     ProduceTimeout.
//   - Bad input never crashes and never vanishes: every refusal is a 4xx (or
//     503) with a JSON body {"error": reason, "detail": what is wrong}, and is
//     counted in sillage_collector_events_refused_total{reason}. A batch with
//     one bad event is refused whole, the detail naming the event's index
//     (e.g. "batch[3].timestamp: ...").
//   - Consent fails closed: an event without context.consent.categoryPreferences
//     carries schemas.NecessaryOnly(). Category names are mapped
//     case-insensitively (see categoryAliases in consent.go); unknown names
//     grant nothing; Sec-GPC: 1 forces marketing and advertising off. The raw
//     preferences and the GPC flag are kept in the event's ConsentSignal.
//
// # Request handling
//
// The write key is the HTTP Basic user or the body's writeKey field
// (top-level for /v1/batch); a missing or unknown key gets 401. Bodies may
// be gzip-encoded; any Content-Type is read as JSON, so sendBeacon's
// text/plain works. MaxBodyBytes bounds the body (after decompression, 413
// beyond), MaxEventBytes each event (413). Browser requests are checked
// against the source's allowed_origins (403 otherwise); requests without an
// Origin header (servers, SDKs) are not. For the single-event endpoints the
// event's type is the endpoint's, whatever the body says.
//
// Each event becomes a schemas.RawEvent keyed by anonymous id, else user id.
// The client IP is the TCP peer's for now (no X-Forwarded-For handling).
//
// # Readiness
//
// /readyz answers 503 until Serve runs and a Kafka broker answered, and again
// from the first produce failure until a probe (every ReadyProbeInterval) or
// a produce succeeds. /healthz answers 200 while the process serves.
package collector
