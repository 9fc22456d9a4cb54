// Package enricher is the stage between sillage.events.raw and
// sillage.events.enriched. It runs on the shared partition runner
// (internal/stream) in transactional mode: Enricher.NewTask is the
// stream.TaskFactory, Enricher.StreamConfig the runner configuration.
//
// For each raw record a partition task:
//
//  1. decodes it (schemas.Serde.DecodeRaw) and checks it: event id, type,
//     a usable anonymous or user id, a receipt time;
//  2. corrects its time for the device's clock skew
//     (received − (sent − original) when sentAt is known) and clamps a time
//     further than Config.FutureBound past receipt to the receipt time,
//     flagging TimeClamped (eventtime.go);
//  3. enforces consent on the IP: without analytics consent it is truncated
//     (/24 IPv4, /48 IPv6) before any lookup and only the truncated address
//     is kept (privacy.go);
//  4. looks up the location (package geo) and parses the user agent
//     (package ua, cached);
//  5. resolves the profile id from the partition's "identities" store
//     (package identity) and assigns the session, in event time, from the
//     "sessions" store (package session);
//  6. produces the enriched event, keyed by profile id.
//
// Guarantees: every input record gives exactly one output record — enriched,
// or a schemas.FailedEvent on the failed topic with a reason code (see
// failed.go), a detail, the original bytes and a deterministic id
// ("enricher/<topic>/<partition>/<offset>"), counted in
// sillage_enricher_events_failed_total{reason}. With the transactional
// runner, outputs and state changes are committed atomically with the input
// offsets, so read_committed consumers see each exactly once across crashes
// and rebalances, and the same input gives the same session ids. A GeoIP
// decoding error is counted and the event passes without location.
//
// Failure: Process returns an error — stopping the stage — only for real
// faults: the context ending while a schema is fetched, or a failed record
// that cannot be encoded. New refuses a config that does not validate and a
// GeoIP database that is missing, broken or of the wrong type.
//
// Not yet (issue 4): dedup, bot flags, referrer and campaign, session
// merging for late events, retroactive identity stitching, UA client hints,
// GeoIP reload. Issue 7 adds the rest of consent enforcement (persistent
// identifiers, profile building) and erasure (Forget on both stores).
package enricher
