// Package collector is Sillage's public HTTP endpoint: Segment's HTTP
// tracking API (POST /v1/batch, /v1/track, /v1/page, /v1/screen,
// /v1/identify, /v1/group, /v1/alias), Segment's pixel API for no-JS pages
// and e-mail opens (GET /v1/pixel/<type>), the browser tag (GET /tag.js), a
// demo shop page (GET /demo), and /healthz and /readyz, on fasthttp.
// @segment/analytics-node and analytics-go are tested against it
// (collector/sdktest, scripts/test-sdk.sh; TestSegmentGoSDKBatches).
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
//   - Consent fails closed: an event without consent information carries
//     schemas.NecessaryOnly(). The signals are the site's
//     context.consent.categoryPreferences (names mapped case-insensitively,
//     see categoryAliases in consent.go; unknown names grant nothing), an IAB
//     TC string (context.consent.tcString or tcf, with gdprApplies), Google
//     Consent Mode's context.consent.gcs, and Global Privacy Control
//     (Sec-GPC: 1 or context.consent.gpc), which always forces marketing and
//     advertising off; package consent decodes them and applies the
//     precedence (categories, else TCF, else gcs). A malformed TC string or
//     gcs never refuses an event: it grants nothing, is counted in
//     sillage_collector_consent_errors_total{signal} and named in an
//     X-Sillage-Consent-Error header. The raw signals are kept in the
//     event's ConsentSignal.
//
// # Request handling
//
// The write key is the HTTP Basic user or the body's writeKey field
// (top-level for /v1/batch); a missing or unknown key gets 401. Bodies may
// be gzip-encoded; any Content-Type is read as JSON, so sendBeacon's
// text/plain works. MaxBodyBytes bounds the body (after decompression, 413
// beyond), MaxEventBytes each event (413): a single event's body as sent,
// an event of a batch by its compact JSON (whitespace between tokens does
// not count). Bodies are parsed once, with fastjson, and must be JSON as
// RFC 8259 has it, nested at most 300 deep (400 malformed_json otherwise);
// fields are matched as encoding/json does (case-insensitively, the last
// of a repeated field winning). Browser requests are checked
// against the source's allowed_origins (403 otherwise); requests without an
// Origin header (servers, SDKs) are not. For the single-event endpoints the
// event's type is the endpoint's, whatever the body says.
//
// Each event becomes a schemas.RawEvent keyed by anonymous id, else user id.
//
// # Client IP
//
// The client IP is the TCP peer's, unless the peer is in TrustedProxies
// (CIDRs or single IPs; none by default). Then the X-Forwarded-For hops
// (every such header, in order) are read from the right, skipping trusted
// proxies; the first untrusted hop is the client (rightmost-untrusted: what
// is left of it was written by the client and is not believed). All hops
// trusted: the leftmost. A hop that is not an IP ends the walk at the last
// good address. Ports and brackets are accepted; IPv4-mapped IPv6 is IPv4.
//
// # Pixel
//
// GET /v1/pixel/<type> (track, page, screen, identify, group, alias) takes
// one event from the query string, either Segment's way, data=<the event's
// JSON in base64> (standard or URL alphabet, padded or not; a '+' turned
// into a space by the query string is read back), or as parameters:
// writeKey, messageId, anonymousId, userId, previousId, groupId, event,
// name, timestamp, sentAt by name, and dotted names building objects under
// properties., traits. and context. (at most 4 parts, e.g.
// context.consent.categoryPreferences.analytics=true, where true and false
// are booleans; elsewhere values stay strings). The consent parameters
// gdpr_consent (a TC string), gdpr (1 or 0: whether the GDPR applies) and
// gcs apply to the event when it does not carry the signal itself, in
// either form. Other parameters (cache busters) are ignored. The event is checked and produced like a POSTed
// one. The answer is always a 43-byte transparent GIF with no-store
// caching, so that a mail client shows nothing broken, but its status is
// the truth: 200 only after Kafka acknowledged, else the same 4xx or 503 as
// the JSON API, with the reason in an X-Sillage-Error header
// ("reason: detail"). Only GET (a HEAD would record an open).
//
// # Protection
//
//   - Rate limits per source (Source.RateLimit, off by default): a token
//     bucket of events (golang.org/x/time/rate). A request takes one token
//     per event, at most the bucket's size so that a large batch is not
//     refused forever, and only once its events are valid; when the tokens
//     are not there, every event of the request is refused with 429, JSON
//     {"error":"rate_limited"} and Retry-After in whole seconds until they
//     would be.
//   - MaxConcurrentRequests caps the event requests (API and pixel) handled
//     at once: beyond it, 503 {"error":"overloaded"} with Retry-After: 1.
//     Probes and static files are not capped. MaxConnections caps open
//     connections (fasthttp's Server.Concurrency): a connection beyond it
//     gets fasthttp's plain-text 503 and is closed, counted in
//     sillage_collector_connections_refused_total (it never reached a
//     handler, so it has no reason label).
//   - Request line and headers are bounded (16 KB, 431), bodies by
//     MaxBodyBytes, slow clients by ReadTimeout/WriteTimeout/IdleTimeout.
//
// Every refusal is counted in sillage_collector_events_refused_total{reason},
// reason being the "error" field of the answer.
//
// # Readiness
//
// /readyz answers 503 until Serve runs and a Kafka broker answered, and again
// from the first produce failure until a probe (every ReadyProbeInterval) or
// a produce succeeds. /healthz answers 200 while the process serves.
package collector
