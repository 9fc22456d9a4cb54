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
// Merges: the first link of an anonymous id to a user id is a profile merge
// (the anonymous profile, whose id is the anonymous id, becomes the user's);
// an alias merges its previous id's current profile into the user's. The
// enricher emits each merge as a PROFILES_MERGED record on the corrections
// topic, so that downstream stages attribute the visitor's anonymous history
// (events already written with the anonymous profile id) to the user: the
// lake keeps the merges in its corrections table for that join, and the
// segmenter folds the anonymous profile into the user's. A re-link to
// another user (a shared device) is not a merge.
//
// Limits: links live in the store of the raw partition the event came from
// (the raw topic is keyed by anonymous id, so every event of one anonymous
// id meets the same link); an alias's previous id is linked in the alias
// event's partition, so later events keyed by that previous id in another
// partition do not see the link (their profile id stays the previous id;
// the merge record still says they are the same person). Events already
// enriched are never rewritten: attribution of history is by the merge.
package identity
