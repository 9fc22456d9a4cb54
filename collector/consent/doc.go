// Package consent turns the consent signals an event can carry into
// Sillage's consent vector (necessary, analytics, personalisation,
// marketing, advertising): an IAB TCF v2.x TC string (its core segment
// decoded with github.com/prebid/go-gdpr, the optional segments here),
// Google Consent Mode's gcs parameter, Global Privacy Control, and the
// categories a site chose itself (Segment's
// context.consent.categoryPreferences, decoded by the collector and handed
// in as a vector).
//
// # What it guarantees
//
//   - Fail closed: no signal, a signal that does not apply (gdprApplies
//     false) or a malformed one grants nothing but necessary processing.
//     A malformed signal is reported as a SignalError naming the signal
//     and what is wrong; it never makes the caller refuse the event.
//   - Precedence (Resolve): the site's own categories, else the TC string,
//     else Consent Mode; Global Privacy Control always withdraws marketing
//     and advertising. The table TCFPurposes says which TCF purposes each
//     category needs; it is the one the browser tag uses (tag/src/index.js),
//     which a test checks.
//   - Decoding agrees with the IAB reference decoder (@iabtechlabtcf/core)
//     on every string of ../shared/data/consent, except the disagreements
//     listed, and explained, in tcf_test.go.
//   - No input crashes a decoder or makes it work long (fuzz tests);
//     decoding is bounded by MaxSignalBytes.
package consent
