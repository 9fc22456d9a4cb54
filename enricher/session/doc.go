// Package session assigns events to sessions in event time: per visitor, a
// new session starts after a configured gap of inactivity (30 minutes by
// default) or on a new campaign. State lives in a partition-local
// stream.Store, so it is restored from the store's changelog after a
// restart or rebalance.
//
// # State
//
// Per visitor the Tracker keeps a bounded history of recent sessions in
// event-time order, each with its id, index, first and last event time and
// campaign. Options bound it:
//
//   - Lateness (default 24 hours): an event more than Lateness older than
//     the latest event time seen for the visitor is beyond the bound. The
//     bound is per visitor, so one visitor's clock does not make another's
//     events late; a visitor's event far in the future makes that visitor's
//     next events late.
//   - MaxSessions (default 16): the most recent sessions kept. Sessions that
//     no event within the bound can reach any more (last event more than
//     Lateness+gap before the latest) are dropped too. The record remembers
//     how far a dropped session reached (the horizon); an event at or
//     before it is beyond the bound.
//
// # Rules
//
// For an event at time t with campaign c ("" for none), where a session
// "joins" c when c is "" or equals the campaign of the session's first
// event:
//
//   - no session yet: a new session, index 1;
//   - beyond the bound: a session of its own (id from visitor and event id,
//     index 0, Late set); the state is untouched (the same for an event
//     that would start a session after the visitor's 2^31-1st);
//   - start <= t < last of a session: that session, whatever c (a campaign
//     never splits a session it falls inside);
//   - otherwise, with P the session before t (its last <= t) and N the
//     session after it: t joins P when t <= P.last+gap and P joins c, and
//     joins N when t >= N.start-gap and N joins c. If both, and N's own
//     campaign is "" or P's, t closes the gap: P absorbs N (P's id
//     survives), the assignment carries a Correction{From: N, Into: P}, and
//     the index of every session after N falls by one. If both but N has
//     another campaign, or only P: P, its last moves to t. Only N: N, its
//     start moves back to t and its id stays. Neither: a new session
//     between P and N; if N exists it takes N's index and the indexes from
//     N on rise by one (Inserted set).
//
// A gap of exactly the timeout does not start a session. In event-time
// order this is the usual rule: a session ends after gap of inactivity, and
// an event with a campaign other than the current session's (including the
// first campaign after one without) starts a new session, as Google
// Analytics does; an event without a campaign never starts one. Out of
// order, with no campaigns, the sessions after the emitted corrections are
// those of the events sorted by time, as long as each event arrives within
// Lateness and no session was dropped for MaxSessions. With campaigns out of
// order, the rules above apply as written (deterministic, but the result may
// differ from that of the sorted input).
//
// # Ids and indexes
//
// The session id is deterministic: a hash of the visitor and the id of the
// event that started the session, so reprocessing the same input after an
// aborted transaction gives the same ids. Once issued an id stays: an event
// that becomes a session's new earliest event does not change it, and a
// merge keeps the earlier session's. Indexes count a visitor's sessions
// from 1 in event-time order; a merge or an insertion shifts the indexes of
// later sessions (downstream renumbers from the Correction or the Inserted
// flag).
//
// # Costs
//
// Writes are coalesced per visitor and written to the store by Flush, which
// the task calls from Tick (inside the batch's transaction); the store's
// value is a small binary record (see codec.go), about 20 bytes a session.
// A visitor's record is read once between Flushes, and lazily: an event
// that is inside the newest session or extends it (the in-order path)
// decodes and re-encodes only that session, copying the older ones as
// stored; an event that needs them decodes them all. An in-order event
// allocates only the hex id, once per session between Flushes; a new
// session also hashes the ids, and a merge allocates its Correction.
package session
