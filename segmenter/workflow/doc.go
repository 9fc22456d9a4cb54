// Package workflow runs the actions configured for segment transitions: it
// consumes the membership topic (read_committed, so only transitions of
// committed segmenter transactions) and, for each workflow whose trigger
// matches (segment and entered/exited), runs its actions in order.
//
// Workflows are declared in the definitions file's `workflows:` section
// (see Spec) and validated at start with errors naming the workflow and the
// faulty part. The one action kind today is a webhook: an HTTP POST of the
// transition as JSON (Payload), signed with HMAC-SHA256 of the body in
// X-Sillage-Signature ("sha256=<hex>", see Sign and Verify), with
// Idempotency-Key set to the transition id (and X-Sillage-Workflow naming
// the workflow, X-Sillage-Attempt counting attempts). 5xx, 408, 429 and
// network errors or timeouts are retried with exponential backoff and
// jitter (honouring Retry-After up to BackoffMax) up to max_attempts; other
// 4xx answers are not retried. An action that gives up becomes a record on
// the failed topic (stage "workflow", reason "webhook_failed", a
// deterministic id, the transition as payload).
//
// Consent is re-checked from the transition's consent snapshot: an action
// runs only if the category it requires (default marketing) was granted;
// otherwise it is counted (outcome "no_consent") and skipped.
//
// Delivery is at least once, made effectively once by the idempotency
// key: a record's offset is committed only after all its actions finished
// (done, skipped, or failed-recorded). If the process stops in the middle
// of an action, the action is attempted again after restart, with the same
// key. Partitions run in parallel (Concurrency), each in order; long retry
// sequences delay rebalances of the group (BlockRebalanceOnPoll).
package workflow
