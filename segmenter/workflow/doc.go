// Package workflow runs the actions configured for segment transitions: it
// consumes the membership topic (read_committed, so only transitions of
// committed segmenter transactions) and, for each workflow whose trigger
// matches (segment and entered/exited), runs its actions in order.
//
// Workflows are declared in the definitions file's `workflows:` section
// (see Spec) and validated at start with errors naming the workflow and the
// faulty part. Actions run in order, each independently of the others'
// outcome. The kinds:
//
//   - wait: a duration (wall clock); the actions after it run when it ends,
//     unless the run exited meanwhile (see Waits below).
//   - wait_for: until the profile makes a transition (a segment entered or
//     exited: segments are how events are described), at most a timeout;
//     a later branch tests `arrived`.
//   - branch: then or else actions by a CEL predicate over traits (the
//     contact directory), consent, arrived, segment, transition and reason
//     (BranchSpec), type-checked at load. An evaluation error (a trait read
//     without has()) takes the else path and is counted. Branches are
//     flattened at load into conditional jumps, so a run's position is one
//     index into the workflow's actions (pending steps, Message-IDs and
//     emitted event ids refer to it: changing a workflow's actions while
//     runs of it wait resumes them at the same index of the new list).
//   - webhook: an HTTP POST of the transition as JSON (Payload), signed
//     with HMAC-SHA256 of the body in X-Sillage-Signature ("sha256=<hex>",
//     see Sign and Verify), with Idempotency-Key set to the transition id
//     (and X-Sillage-Workflow naming the workflow, X-Sillage-Action the
//     action's index, so that key + action is unique when a workflow posts
//     more than once, X-Sillage-Attempt counting attempts). 5xx, 408, 429 and network errors or timeouts are
//     retried; other 4xx answers are not.
//   - email: a message sent over SMTP (github.com/wneessen/go-mail; TLS
//     none, STARTTLS required, or implicit TLS; optional SMTP AUTH with the
//     password from the environment) rendered from templates (EmailSpec:
//     subject and text with text/template, html with html/template; data
//     EmailData), parsed and executed on sample data at load. The recipient
//     is a trait of the profile (default "email") from the contact
//     directory (below); without a usable address the action is skipped
//     and counted (outcome "no_address"). Each message has a stable
//     Message-ID (see MessageID: transition id, workflow, action index) and
//     X-Sillage-Transition. SMTP 5xx answers are not retried; connection
//     errors, timeouts and 4xx are.
//   - emit and set_traits: a track event (EmitSpec, e.g. "Cart Reminder
//     Sent") or an identify with traits (SetTraitsSpec) produced on the raw
//     topic, so it goes through the whole pipeline (enricher, segments,
//     contact directory, lake). Source "workflow", user agent
//     "sillage-workflow", the transition's consent vector (origin
//     "workflow"), the profile's user and anonymous ids as last seen (else
//     the profile id as user id, which the enricher resolves to the same
//     profile), and a deterministic messageId (EmitEventID), so that an
//     emission repeated after a crash is dropped by the enricher's
//     duplicate suppression. Default consent category: personalisation.
//
// Retries use exponential backoff with jitter (honouring a webhook's
// Retry-After up to BackoffMax) up to the action's max_attempts. An action
// that gives up becomes a record on the failed topic (stage "workflow",
// reason "<kind>_failed", a deterministic id, the transition as payload).
//
// # Contact directory
//
// When a workflow sends e-mail, the consumer also keeps the profiles'
// traits (contacts.go): a feed (consumer group <group>.contacts) reads the
// enriched topic and writes each change of a profile's traits (an
// identify's traits, any event's context.traits; scalars only, 64 per
// profile, latest value wins) to the compacted topic
// <prefix>workflow.contacts.changelog, keyed by profile id. Every instance
// reads that topic whole into memory and has restored it before it handles
// any transition, so an e-mail due after a restart finds the address. An
// event without personalisation consent deletes the profile's contact (a
// tombstone), as the segmenter deletes its state. When a transition's
// profile has no contact yet, the consumer first waits (up to 10s) until
// the feed has applied the enriched topic up to its end as of then: the
// identify that gave the address may have been committed just before the
// transition it caused.
//
// # Re-entry and frequency caps
//
// A workflow may say when a profile runs it again (Spec.Reentry): every
// time it is triggered (the default), once ever, or not within a cooldown
// of its last run; and cap its runs per profile (Spec.FrequencyCap: at most
// max runs within per). Both are decided in event time (the transition's)
// on the profile's run history (runs.go): a compacted topic
// <prefix>workflow.runs.changelog keyed by profile id, read whole into
// memory by every instance, restored before the first transition and
// caught up before each batch (so an instance taking over partitions sees
// what the previous owner wrote). A run is recorded, and acknowledged,
// before its actions start; a transition handled again after a crash finds
// its own run and goes ahead (its actions repeat with the same keys). A
// trigger refused by consent for every action records no run. Refused runs
// are counted in sillage_workflow_runs_total{outcome="reentry|cooldown|capped"}.
// Config.MessageCap caps messages (e-mails, webhooks) per profile across
// workflows in a sliding wall-clock window, counted in the same state
// before each message (by transition, workflow and action, so a message
// repeated after a crash counts once); over the cap the action is skipped
// (outcome "capped").
//
// # Waits, exit rules, quiet hours
//
// A run that reaches a wait is kept as a pending step (workflow, the
// transition, the next action, when) in the profile's state (runs.go),
// written and acknowledged before the transition's offset is committed, so
// a wait survives restarts and rebalances. Between polls (at least every
// 250ms) the consumer resumes the due steps of the profiles whose
// membership partition it owns, then records the next step (or none). A
// crash between the actions and that record repeats them (same keys).
//
// Exit rules apply at once, also in the middle of a wait: a transition
// that leaves the trigger segment (or enters it, for an exit trigger), or
// matches one of the workflow's exit_on transitions (e.g. entering a
// "purchased" segment), ends the profile's waiting runs of that workflow
// (sillage_workflow_runs_total{outcome="exited"}). A profile that
// withdraws personalisation consent leaves every segment, so its runs
// exit; one that withdraws marketing consent keeps its runs, but actions
// after a wait re-check consent against the latest the contact directory
// saw (the transition's snapshot AND the profile's latest consent), so
// no marketing action follows.
//
// Quiet hours (start, end, HH:MM, may span midnight) hold messages (email,
// webhook) due in them until they end, in the profile's time zone (the
// enricher's geo time zone, kept in the contact directory) or the
// workflow's default; the action is counted (outcome "quiet_hours") and
// the run waits as for a wait action. Events and traits are not messages.
//
// # Consent
//
// Consent is re-checked from the transition's consent snapshot (for a
// timer, the profile's last consent): an action runs only if the category
// it requires (default marketing) was granted; otherwise it is counted
// (outcome "no_consent") and skipped. So marketing consent withdrawn during
// an absence window means no e-mail when the window closes.
//
// # Delivery
//
// At least once, made effectively once by idempotency keys and
// Message-IDs: a record's offset is committed only after all its actions
// finished (done, skipped, or failed-recorded). If the process stops in the
// middle of an action, the action is attempted again after restart, with
// the same key or Message-ID. For e-mail that is the one window where a
// receiver can get a message twice: the process dies after the SMTP server
// accepted the message (250 after DATA) and before the offset commit; the
// repeat carries the same Message-ID for receivers to drop. Partitions run
// in parallel (Concurrency), each in order; long retry sequences delay
// rebalances of the group (BlockRebalanceOnPoll).
package workflow
