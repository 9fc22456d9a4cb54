// Package segmenter decides, per profile and in event time, which segments
// each profile is in, and emits every entry and exit once as a
// schemas.MembershipTransition on the membership topic (key: profile id).
//
// It runs on the shared runner (internal/stream) in transactional mode:
// New returns a Segmenter whose NewTask is the stream.TaskFactory and whose
// StreamConfig is the runner configuration (input: the enriched topic;
// store: "profiles"). Per-profile state (memberships, open absence windows,
// sliding-window events, partial sequences, traits and computed traits, the
// last consent seen) lives in that store, so it is restored from its
// compacted changelog after a crash or rebalance, in step with the
// committed outputs. A task writes the states a batch changed once, at the
// end of the batch (Tick, before the runner commits), as the JSON
// encoding/json would write, and keeps up to 20,000 decoded states in
// memory (used while the store still holds the value they were decoded
// from: the task is the store's only writer).
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
//   - window: a sliding window of `within` over the events matching `match`;
//     the profile is a member while the window (t-within, t] holds at least
//     `at_least` of them and, with `sum` (a numeric expression) and
//     `sum_at_least`, while their sum is at least that. It enters on the
//     event that reaches the threshold and exits when the window slides
//     below it: a timer at the expiry (event time + within) of the event
//     whose loss breaks the threshold, so exits are as timely as entries.
//     An event at the very instant another expires is counted with it
//     (no exit and re-entry at that instant). A late event (older than the
//     profile's newest in the window) counts if it falls in the window
//     ending at that newest event, and an entry it causes is dated then;
//     an exit already decided (the watermark, or a newer event of the
//     profile, passed it) is not undone: a late event that would have
//     prevented it makes the profile enter again.
//   - sequence: `steps` (at least 2 predicates) matched in order, the last
//     less than `within` after the first; the profile enters on the last
//     step, and exits on an event matching `exit` or `member_for` after
//     entering (a timer), both optional. While a member, steps are ignored.
//     Steps are matched in the order the profile's events are applied (event
//     time, except for late events); the latest start of a partial match
//     is kept for each step, as it expires last.
//   - in_segments: `all`, `any` and `none` lists of segment names; the
//     profile is a member while in all of `all`, in one of `any` (when
//     given) and in none of `none`. It follows the segments it names on
//     events and when their timers fire.
//
// Predicates are CEL expressions over the variables `event` (see Event for
// the fields: type, name, properties, traits, context, consent, page, geo,
// campaign, referrer, device, time…) and `profile` (see Profile: traits,
// computed, segments), type-checked at load: an unknown field or a
// non-boolean expression is an error naming the segment and the field
// (e.g. `segment "x": event.enter: ERROR: <input>:1:6: undefined field 'nmae'`).
// Date conditions use CEL's timestamps and durations over event time
// (event.time.getHours("Europe/Paris") >= 18, event.time -
// timestamp(profile.computed.first_seen) > duration("720h")); consent
// conditions read event.consent (the consent of the event being applied).
// An evaluation error at run time (a missing map key) counts as no match and
// in sillage_segmenter_predicate_errors_total; write has(event.properties.x).
// The file's `workflows:` section is parsed by package segmenter/workflow.
//
// # Profiles: traits, computed traits, membership
//
// profile.traits are the profile's identify traits, merged by top-level key
// (a null removes a key; at most maxTraits keys), kept only when some
// predicate reads profile.traits. profile.computed holds the computed
// traits of the file's `computed:` section: each an aggregate (count, sum,
// min, max, first, last) of `value` over the profile's events matching
// `where`, e.g. a lifetime value:
//
//	computed:
//	  - name: lifetime_value
//	    aggregate: sum
//	    where: event.type == "track" && event.name == "Order Completed" && has(event.properties.revenue)
//	    value: event.properties.revenue
//
// Numbers are float64 (count and sum read 0 before any event; first and last
// are absent until set: use has()); timestamps are kept as RFC 3339
// strings (compare them with timestamp(...)). Computed-trait expressions
// read `event` only. Traits and computed traits include the event being
// applied. A reference to an undefined computed trait is a load error.
//
// segment("x") (a macro for "x" in profile.segments) is true while the
// profile is in segment x; the name must be a literal, and profile.segments
// can be read in no other way, so that every reference is known at load: an
// unknown segment is an error, and so is a cycle, named
// (`segment "a": refers to itself through segment membership: cycle a → b → a`).
// Segments are decided in dependency order (file order otherwise), so
// segment("x") sees x as decided for the current event. A predicate using
// segment() is evaluated on the profile's events only; an in_segments
// segment also follows timers.
//
// # State bounds and duplicates
//
// A count-only window keeps its newest at_least event times per profile
// (enough to decide it exactly); one with a sum keeps at most
// maxWindowEvents (1,000) events per profile, and beyond that drops the
// oldest (the sum then covers only the newest 1,000). A sequence keeps one
// start time per step (at most maxSequenceSteps, 16). The state of a window
// or a partial sequence that is no longer needed is dropped by a sweep
// timer, one per profile, an hour (sweepGrace) after its newest event
// expires: until then an event arriving late still finds it. The hashes of the
// last maxSeen (8) event ids that changed a profile are kept: an upstream
// duplicate (the same event id under a new offset) is ignored, so it is not
// counted twice in windows or computed traits. Traits and computed traits
// are kept for as long as the profile keeps personalisation consent.
//
// # The admin profile view
//
// ProfileHandler serves GET /v1/profiles/{id} (the profile's identities,
// consent, traits, computed traits, memberships with since-when, cause and
// reason, pending windows and timers, recent events) and
// GET /v1/profiles/{id}/explain?segment=NAME (why the profile is or is
// not a member, by kind), from the state of the task owning the profile's
// partition (see view.go), under the task's mutex, which the task holds
// while processing a record or ticking. For it the state also keeps the
// entering transition's cause per membership (the reason is derived from
// the rule), the last user id and maxAnonIDs (4) anonymous ids, and the
// last Config.RecentEvents (default 10) events' id, type, name and time —
// recorded only while the profile has state for another reason, and
// deleted with it on consent withdrawal. A profile whose partition another
// instance owns gets a 421 naming the partition; one without state, a 404.
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
// sillage_segmenter_timers_pending, which counts segment timers — absence
// windows, window exits, sequence member_for — and not the sweeps) until
// newer events arrive. The partition's clock (newest event time, and when
// it arrived) is stored with its offset marker, so a restarted task resumes
// it: timers the data already passed fire once the partition is quiet, and
// a live stream's idle rule resumes, without waiting for a new event. An
// event older than the watermark is late (sillage_segmenter_late_events_total)
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
// and cause (the event id; for a timer its deadline, and for an absence
// window its opening event; for an in_segments segment following a timer,
// the segment and cause it follows), so re-running the same input yields
// the same ids. With the transactional
// runner, outputs, state and offsets commit together; the store also keeps
// the last applied input offset, so records redelivered after a restore are
// skipped. A record that cannot be decoded goes to the failed topic (stage
// "segmenter", reason "undecodable"). Errors returned to the runner (a
// profile state that cannot be decoded, an encoding failure) stop it.
package segmenter
