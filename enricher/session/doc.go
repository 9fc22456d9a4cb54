// Package session assigns events to sessions in event time: per visitor, a
// new session starts after a configured gap of inactivity (30 minutes by
// default). State lives in a partition-local stream.Store, so it is restored
// from the store's changelog after a restart or rebalance.
//
// Rules, for an event at time t and the visitor's current session
// [start, last]:
//
//   - no session yet: a new session, index 1;
//   - t > last+gap: a new session, index+1 (a gap of exactly the timeout does
//     not start one);
//   - last <= t <= last+gap: the current session, last moves to t;
//   - start <= t < last: the current session (out of order, inside it);
//   - start-gap <= t < start: the current session, start moves back to t
//     (out of order, within the gap before it);
//   - t < start-gap: late beyond the current session. The skeleton keeps only
//     the current session per visitor, so such an event gets a session of
//     its own (id from visitor and event id, index 0, Late set) and the state
//     is untouched. Issue 4 replaces this with a history of recent sessions,
//     a lateness bound and merges of sessions that a late event bridges.
//
// The session id is deterministic: a hash of the visitor and the id of the
// event that started the session, so reprocessing the same input after an
// aborted transaction gives the same ids. Writes are coalesced per visitor
// and written to the store by Flush, which the task calls from Tick (inside
// the batch's transaction); the store's value is a small binary record
// (see codec.go).
package session
