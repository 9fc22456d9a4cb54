// Package identity resolves the profile id of an event (minimal identity
// stitching for the skeleton) from a partition-local store mapping anonymous
// ids to the user id they were last seen with.
//
// Rules: the profile id is the user id when the event has a usable one; else
// the user id the store links to the event's anonymous id; else the anonymous
// id. Any event carrying both a usable anonymous id and a usable user id
// links them (identify, alias, track after login…); an alias event also links
// its previousId. A later event with another user id re-links the anonymous
// id (last writer wins: a shared device follows whoever used it last).
// Placeholder values ("null", "undefined", "anonymous", "0", "-1", empty or
// blank, compared case-insensitively) are never usable: never linked, never a
// profile id.
//
// Limits (issue 4): links live in the store of the raw partition the event
// came from (the raw topic is keyed by anonymous id, so every event of one
// anonymous id meets the same link); history before the link keeps the
// anonymous profile id (no retroactive attribution, no profile merge events).
package identity
