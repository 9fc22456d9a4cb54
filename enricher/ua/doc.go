// Package ua parses user-agent strings into schemas.UserAgent with ua-parser
// (github.com/ua-parser/uap-go) and the regexes.yaml pinned in this folder
// (see NOTICE.md), fronted by an LRU cache.
//
// Guarantees: the same string always gives the same answer; the regexes are
// embedded, so the binary needs no file at run time; Parse never fails and
// never panics — an unknown agent gives family "Other", as ua-parser
// specifies, while the empty string gives the zero UserAgent (no agent is
// not the same as an unknown one). Strings longer than MaxLen bytes are parsed (and cached) by their
// first MaxLen bytes, bounding both regex time and cache memory.
//
// Cost: a cached agent costs one map lookup; an agent not seen before runs
// ua-parser's regex lists (about 2–3 ms on this machine), so the cache size
// must cover the working set of distinct agents.
package ua
