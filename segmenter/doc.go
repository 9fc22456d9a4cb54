// Package segmenter decides, per profile and in event time, which segments
// each profile is in, and emits every entry and exit once as a
// schemas.MembershipTransition on the membership topic (key: profile id).
//
// It runs on the shared runner (internal/stream) in transactional mode:
// New returns a Segmenter whose NewTask is the stream.TaskFactory and whose
// StreamConfig is the runner configuration (input: the enriched topic;
// store: "profiles"). Per-profile state (memberships, open absence windows,
// the last consent seen) lives in that store, so it is restored from its
// compacted changelog after a crash or rebalance, in step with the
// committed outputs.
//
// # Definitions
//
// Segments are defined in YAML (Config.DefinitionsPath; empty loads the
// embedded demo file, default_definitions.yaml). Each has a name and one
// kind:
//
//   - event: `enter` (and optionally `exit`) are predicates; the profile
//     enters on the first matching event and stays until an `exit` match.
//   - absence: an event matching `start` opens a window of `within`; if no
//     event matching `missing` arrives at an event time strictly before
//     start+within, the profile enters when the window closes (event time of
//     the entry = the deadline). A `missing` event after entry makes it exit.
//
// Predicates are CEL expressions over the variable `event` (see Event for
// the fields: type, name, properties, traits, context, consent, page, geo,
// campaign, referrer, device, time…), type-checked at load: an unknown field
// or a non-boolean expression is an error naming the segment and the field
// (e.g. `segment "x": event.enter: ERROR: <input>:1:6: undefined field 'nmae'`).
// An evaluation error at run time (a missing map key) counts as no match and
// in sillage_segmenter_predicate_errors_total; write has(event.properties.x).
// The file's `workflows:` section is parsed by package segmenter/workflow.
//
// # Absence windows and re-entry
//
// The window runs from the first `start` event: further `start` events
// while it is open do not move it, and while the profile is a member they
// are ignored. After an exit, the next `start` opens a new window, so a
// profile can enter again (each entry has its own id). A `missing` event
// older than the window's start (arriving out of order) does not close it.
//
// # Time
//
// Everything is in event time (EnrichedEvent.EventTime). A profile's own
// events are applied in order, and a window that closed before the
// profile's next event is decided before that event applies. Other timers
// fire on Tick when the partition's watermark reaches their deadline. The
// watermark is the largest of:
//
//   - the partition's newest event time minus AllowedLateness, while records
//     flow (default 10s: disorder tolerated between profiles of a partition);
//   - the instance's newest event time once the partition has had no record
//     for QuietPeriod (default 5s): a caught-up partition is complete, so the
//     end of a replay decides every window that closed before its last
//     event, whatever the lateness;
//   - for a live stream only (its newest event was within IdleTimeout of the
//     wall clock when it arrived), the newest event time plus the silence,
//     once the whole input has been silent for IdleTimeout (default 1m), so
//     that a quiet shop's carts are decided on time by the wall clock.
//
// A replay of old data is therefore never advanced by the wall clock:
// windows still open when the replayed data ends stay pending (counted in
// sillage_segmenter_timers_pending) until newer events arrive. An event
// older than the watermark is late (sillage_segmenter_late_events_total)
// and still applied: a late `start` opens a window that may close at the
// next tick; a late `missing` after an entry makes the profile exit.
//
// # Consent and bots
//
// Events flagged as bots are ignored. Profile building needs
// personalisation consent (fail closed): an event without it creates no
// state and enters no segment; for a profile that has state, it is a
// withdrawal: the profile exits every segment it is in (reason
// "personalisation consent withdrawn"), open windows are dropped and the
// state is deleted (a tombstone in the changelog). Each transition carries
// the consent of the event that caused it, or for a timer the profile's
// last consent, for the workflows to re-check.
//
// # Guarantees and failures
//
// Transition ids are deterministic: a hash of segment, profile, transition
// and cause (the event id, or the window's deadline and opening event), so
// re-running the same input yields the same ids. With the transactional
// runner, outputs, state and offsets commit together; the store also keeps
// the last applied input offset, so records redelivered after a restore are
// skipped. A record that cannot be decoded goes to the failed topic (stage
// "segmenter", reason "undecodable"). Errors returned to the runner (a
// profile state that cannot be decoded, an encoding failure) stop it.
package segmenter
