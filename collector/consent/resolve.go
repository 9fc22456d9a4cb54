package consent

import (
	"errors"
	"fmt"

	"github.com/sillage/sillage/schemas"
)

// TCFPurposes says which IAB TCF v2.2 purposes must all have the user's
// consent (not legitimate interest) to grant a category. Purpose 1 (store
// and/or access information on a device) is in every row: every category
// but necessary uses a persistent identifier. The browser tag maps a CMP's
// answer with the same table (tag/src/index.js, checked by a test).
//
//	analytics        1, 8 measure content performance, 9 understand audiences
//	personalisation  1, 5 profiles to personalise content, 6 use them
//	marketing        1, 3 profiles for personalised advertising, 4 use them
//	advertising      1, 2 limited data to select ads, 3, 4, 7 measure ad performance
//
// Purpose 7 measures advertising, so it belongs to advertising, not to
// analytics. Marketing (workflow messages chosen from a profile) has no
// purpose of its own in TCF; 3 and 4, being profiled to be shown
// personalised promotions, are the closest. A site that sends e-mail
// should ask for that consent itself (categoryPreferences wins over TCF).
var TCFPurposes = []struct {
	Category string
	Purposes []int
}{
	{"analytics", []int{1, 8, 9}},
	{"personalisation", []int{1, 5, 6}},
	{"marketing", []int{1, 3, 4}},
	{"advertising", []int{1, 2, 3, 4, 7}},
}

// ErrTCFv1 is the error for a TCF v1 string, which grants nothing.
var ErrTCFv1 = errors.New("TC string is TCF v1, switched off by IAB Europe in August 2020: it grants nothing")

// Vector maps the TC string's purpose consents to a consent vector by
// TCFPurposes. Legitimate interest grants nothing, nor do vendor consents
// (Sillage runs for the site, not as a GVL vendor, so publisher
// restrictions, which bind vendors, do not apply either). With
// PurposeOneTreatment set, purpose 1 was never put to the user: it counts
// as not consented, so the string grants nothing but necessary. A v1 string
// gives ErrTCFv1 and necessary only.
func (t *TCString) Vector() (schemas.Consent, error) {
	c := schemas.NecessaryOnly()
	if t.Version != 2 {
		return c, ErrTCFv1
	}
	for _, row := range TCFPurposes {
		ok := true
		for _, p := range row.Purposes {
			if !t.PurposeConsent(p) || (p == 1 && t.PurposeOneTreatment) {
				ok = false
				break
			}
		}
		set(&c, row.Category, ok)
	}
	return c, nil
}

func set(c *schemas.Consent, category string, v bool) {
	switch category {
	case "analytics":
		c.Analytics = v
	case "personalisation":
		c.Personalisation = v
	case "marketing":
		c.Marketing = v
	case "advertising":
		c.Advertising = v
	}
}

// GCSVector maps Consent Mode's gcs to a consent vector: analytics needs
// analytics_storage granted, advertising ad_storage granted. Consent Mode
// says nothing of personalisation or marketing: never granted by it.
func GCSVector(g GCS) schemas.Consent {
	c := schemas.NecessaryOnly()
	c.Analytics = g.AnalyticsStorage == Granted
	c.Advertising = g.AdStorage == Granted
	return c
}

// Applies is whether the GDPR applies, as a CMP's gdprApplies says.
type Applies byte

const (
	AppliesUnknown Applies = iota
	AppliesYes
	AppliesNo
)

// Input is what an event says about consent.
type Input struct {
	Preferences *schemas.Consent // the site's own categories; nil when absent
	TCF         string           // IAB TC string
	GDPRApplies Applies          // AppliesNo: the TC string is not read
	GCS         string           // Google Consent Mode's gcs
	GPC         bool             // Global Privacy Control (Sec-GPC: 1 or the tag's gpc)
}

// Origins of a vector, as schemas.ConsentSignal.Origin has them.
const (
	OriginTag  = "tag"
	OriginTCF  = "tcf"
	OriginGCM  = "gcm"
	OriginGPC  = "gpc"
	OriginNone = "none"
)

// SignalError is a malformed signal: Signal is tcf or gcs.
type SignalError struct {
	Signal string
	Err    error
}

func (e SignalError) Error() string { return e.Signal + ": " + e.Err.Error() }

// Result is an event's consent vector, what decided it, and the signals
// that could not be read.
type Result struct {
	Consent schemas.Consent
	Origin  string
	Errors  []SignalError
}

// Resolve builds the consent vector. Every signal given is read (so that a
// malformed one is reported even when another decides); the first present
// decides:
//
//  1. Preferences (the site's own choice, the tag's consent API);
//  2. the TC string, unless GDPRApplies is AppliesNo; a malformed or v1
//     string decides too: necessary only;
//  3. Consent Mode's gcs; a malformed value: necessary only;
//  4. nothing: necessary only.
//
// Global Privacy Control then withdraws marketing and advertising (CCPA's
// opt-out of sale and sharing), whatever decided.
func Resolve(in Input) Result {
	r := Result{Consent: schemas.NecessaryOnly(), Origin: OriginNone}
	var tcf *schemas.Consent
	if in.TCF != "" && in.GDPRApplies != AppliesNo {
		c := schemas.NecessaryOnly()
		if t, err := DecodeTCF(in.TCF); err != nil {
			r.Errors = append(r.Errors, SignalError{"tcf", err})
		} else if c, err = t.Vector(); err != nil {
			r.Errors = append(r.Errors, SignalError{"tcf", err})
		}
		tcf = &c
	}
	var gcm *schemas.Consent
	if in.GCS != "" {
		c := schemas.NecessaryOnly()
		if g, err := ParseGCS(in.GCS); err != nil {
			r.Errors = append(r.Errors, SignalError{"gcs", err})
		} else {
			c = GCSVector(g)
		}
		gcm = &c
	}
	switch {
	case in.Preferences != nil:
		r.Consent, r.Origin = *in.Preferences, OriginTag
		r.Consent.Necessary = true
	case tcf != nil:
		r.Consent, r.Origin = *tcf, OriginTCF
	case gcm != nil:
		r.Consent, r.Origin = *gcm, OriginGCM
	case in.GPC:
		r.Origin = OriginGPC
	}
	if in.GPC {
		r.Consent.Marketing, r.Consent.Advertising = false, false
	}
	return r
}

// String describes a result for logs and test failures.
func (r Result) String() string {
	return fmt.Sprintf("%+v from %s (%d errors)", r.Consent, r.Origin, len(r.Errors))
}
