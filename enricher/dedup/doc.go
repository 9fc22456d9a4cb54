// Package dedup drops retried copies of an event: events are identified by
// (source, messageId) within a window (default 24 h, by receipt time).
//
// What counts as a copy: the same (source, messageId) with the same content
// (type, name, ids, properties, traits; not the timestamp, which the
// collector fills with the receipt time when a client sends none, so that
// it differs between a request and its retry). A retry of the
// same event — the tag or an SDK resending after a lost answer, a replay
// re-run — is dropped and counted. Two different events that share a
// messageId (a buggy client; Segment's Go SDK fixtures do this) are NOT
// silently merged: the later one is reported as a conflict, and the
// enricher routes it to the failed topic with reason "duplicate_message_id",
// so that nothing vanishes without a trace.
//
// State lives in the partition's "dedup" store (compacted changelog), so it
// survives restarts and rebalances; entries older than the window are
// deleted (tombstoned) as time passes. Events of one (source, messageId)
// share a Kafka key (anonymous id, else user id) and so a partition, which
// makes partition-local state sufficient — except when a retry changes its
// identifiers, which then counts as a different event: two events of
// different visitors that share a messageId both reach the lake, so
// event_id is unique per visitor, not across the whole lake.
package dedup
