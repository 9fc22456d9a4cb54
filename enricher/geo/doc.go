// Package geo looks up the location (and optionally the autonomous system)
// of an IP address in MaxMind databases through geoip2-golang.
//
// Guarantees: Open refuses, with an error naming the file and the problem, a
// database that does not exist, does not pass MaxMind's own verifier
// (maxminddb Verify: broken search tree, bad data section) or is of a type
// that cannot answer the question asked of it (an ASN database given as the
// city database, a flat DB-IP layout…). Once open, Lookup never panics: an
// address that is private, loopback, link-local or unspecified is not looked
// up; an address the database does not know gives an empty location; a
// decoding error on one record is returned to the caller, who counts it and
// lets the event pass without geo. Readers are safe for concurrent use.
//
// Not yet: reloading a database when its file changes, DB-IP's flat layout
// (issue 4).
package geo
