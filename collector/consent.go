package collector

import (
	"bytes"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/sillage/sillage/collector/consent"
	"github.com/sillage/sillage/schemas"
)

// categoryAliases maps a consent category name, as CMPs and sites spell it
// in Segment's context.consent.categoryPreferences, to Sillage's category.
// Names are compared lower-cased with spaces, '-' and '_' removed. Names not
// listed here are kept in the raw signal but grant nothing (fail closed).
// When several names map to one category, it is granted only if every one
// of them is true.
//
// "necessary" (and its aliases) is accepted but changes nothing: necessary
// processing does not rest on consent, so Consent.Necessary is always true.
var categoryAliases = map[string]string{
	"necessary": "necessary", "strictlynecessary": "necessary", "essential": "necessary", "required": "necessary",
	"c0001": "necessary", // OneTrust's Strictly Necessary group

	"analytics": "analytics", "statistics": "analytics", "performance": "analytics", "measurement": "analytics",
	"analyticsstorage": "analytics", "c0002": "analytics",

	"personalisation": "personalisation", "personalization": "personalisation", "functional": "personalisation",
	"functionality": "personalisation", "preferences": "personalisation", "personalizationstorage": "personalisation",
	"functionalitystorage": "personalisation", "c0003": "personalisation",

	"marketing": "marketing",

	"advertising": "advertising", "ads": "advertising", "targeting": "advertising", "adstorage": "advertising",
	"aduserdata": "advertising", "adpersonalization": "advertising", "c0004": "advertising",
}

// consentPrefs is what Segment's categoryPreferences object (category →
// bool) grants.
type consentPrefs struct {
	set     bool   // categoryPreferences is an object
	json    string // its compact JSON
	consent schemas.Consent
}

// categories are the targets of categoryAliases, in the order of
// schemas.ConsentCategories.
var categories = [...]string{"necessary", "analytics", "personalisation", "marketing", "advertising"}

// pref is one name of a categoryPreferences object that maps to a category.
type pref struct {
	name, category string
	yes            bool
}

// prefs decodes a categoryPreferences value. When several names map to one
// category, it is granted only if every one of them is true; a repeated
// name counts once, with its last value.
func (d *decoder) prefs(v *fastjson.Value) consentPrefs {
	o := v.GetObject()
	if o == nil {
		return consentPrefs{}
	}
	p := consentPrefs{set: true, json: d.arena.str(d.text(v))}
	var stack [16]pref
	list := stack[:0]
	o.Visit(func(key []byte, v *fastjson.Value) {
		if cat := aliasOf(b2s(key)); cat != "" {
			k, _ := d.leaf(v)
			list = append(list, pref{name: d.arena.str(key), category: cat, yes: k == 't'})
		}
	})
	// Sorted by name, in document order within a name: the last of a run
	// is the name's value.
	slices.SortStableFunc(list, func(a, b pref) int { return strings.Compare(a.name, b.name) })
	var seen, granted [len(categories)]bool
	for i, e := range list {
		if i+1 < len(list) && list[i+1].name == e.name {
			continue
		}
		c := slices.Index(categories[:], e.category)
		granted[c] = e.yes && (granted[c] || !seen[c])
		seen[c] = true
	}
	p.consent = schemas.Consent{Necessary: true, Analytics: granted[1], Personalisation: granted[2],
		Marketing: granted[3], Advertising: granted[4]}
	return p
}

// consentSignals are the raw consent signals of one event: the site's
// categories (the tag's consent API), an IAB TC string and whether the GDPR
// applies, Google Consent Mode's gcs, and Global Privacy Control (the
// Sec-GPC header or the tag's gpc flag).
type consentSignals struct {
	prefs   consentPrefs
	tcf     string
	applies consent.Applies
	gcs     string
	gpc     bool
}

// resolve builds the event's consent vector and the signal kept beside it
// (see consent.Resolve for the precedence): fail closed, a malformed signal
// grants nothing and is returned, never refused. The raw TC string and gcs
// are kept as sent (up to consent.MaxSignalBytes), readable or not.
func (s *consentSignals) resolve() (schemas.Consent, schemas.ConsentSignal, []consent.SignalError) {
	in := consent.Input{TCF: s.tcf, GDPRApplies: s.applies, GCS: s.gcs, GPC: s.gpc}
	if s.prefs.set {
		p := s.prefs.consent
		in.Preferences = &p
	}
	r := consent.Resolve(in)
	sig := schemas.ConsentSignal{Origin: r.Origin, CategoriesJSON: s.prefs.json, TCF: truncateSignal(s.tcf),
		GCS: truncateSignal(s.gcs), GPC: s.gpc}
	return r.Consent, sig, r.Errors
}

// normaliseConsent builds the consent vector from a categoryPreferences
// JSON value alone (see consentSignals.resolve); anything but a JSON
// object grants nothing.
func normaliseConsent(prefs []byte, gpc bool) (schemas.Consent, schemas.ConsentSignal) {
	s := consentSignals{gpc: gpc}
	if prefs = bytes.TrimSpace(prefs); len(prefs) > 0 {
		d := getDecoder(len(prefs))
		if v, err := d.parse(prefs); err == nil {
			s.prefs = d.prefs(v)
		}
		d.release()
	}
	c, sig, _ := s.resolve()
	return c, sig
}

// fromQuery fills the signals the event does not carry (the TC string,
// gdprApplies, gcs) from a pixel's query string.
func (s *consentSignals) fromQuery(q *consentSignals) {
	if s.tcf == "" {
		s.tcf = q.tcf
	}
	if s.applies == consent.AppliesUnknown {
		s.applies = q.applies
	}
	if s.gcs == "" {
		s.gcs = q.gcs
	}
}

// queryConsent reads the consent parameters of a pixel's query string,
// which apply to its event when the event does not carry its own: the
// IAB's gdpr_consent (the TC string, as ad servers' ${GDPR_CONSENT_n}
// macros fill it) and gdpr (1: the GDPR applies, 0: it does not), and
// Google Consent Mode's gcs.
func queryConsent(args *fasthttp.Args) consentSignals {
	s := consentSignals{tcf: string(args.Peek("gdpr_consent")), gcs: string(args.Peek("gcs"))}
	switch string(args.Peek("gdpr")) {
	case "1":
		s.applies = consent.AppliesYes
	case "0":
		s.applies = consent.AppliesNo
	}
	return s
}

// aliasOf returns the category a name maps to, "" for none. ASCII names,
// all that CMPs send, are normalised without allocating.
func aliasOf(name string) string {
	if !isASCII(name) {
		return categoryAliases[normaliseName(name)]
	}
	name = strings.TrimSpace(name)
	var buf [32]byte // longer than any alias
	n := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == ' ' || c == '-' || c == '_':
			continue
		case n == len(buf):
			return ""
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return categoryAliases[string(buf[:n])]
}

func normaliseName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.ContainsAny(s, " -_") {
		s = strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s)
	}
	return s
}

// truncateSignal bounds a raw consent string kept on the event to what is
// decoded (TC strings are a few hundred bytes, a few KB with many
// publisher restrictions; a longer one is cut, not refused).
func truncateSignal(s string) string {
	if len(s) > consent.MaxSignalBytes {
		return s[:consent.MaxSignalBytes]
	}
	return s
}
