package collector

import (
	"bytes"
	"slices"
	"strings"

	"github.com/valyala/fastjson"

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

// vector builds an event's consent vector and signal from its preferences
// and Global Privacy Control (the Sec-GPC header or the tag's gpc flag).
//
// Fail closed: no preferences (absent, null or not an object) gives
// necessary processing only; a category is granted only by a JSON true.
// Global Privacy Control forces marketing and advertising off whatever the
// preferences say. The raw preferences are kept in the signal.
func (p consentPrefs) vector(gpc bool) (schemas.Consent, schemas.ConsentSignal) {
	c := schemas.NecessaryOnly()
	sig := schemas.ConsentSignal{Origin: "none", GPC: gpc}
	if p.set {
		sig.Origin = "tag"
		sig.CategoriesJSON = p.json
		c = p.consent
	} else if gpc {
		sig.Origin = "gpc"
	}
	if gpc {
		c.Marketing, c.Advertising = false, false
	}
	return c, sig
}

// normaliseConsent builds the consent vector from a categoryPreferences
// JSON value (see vector); anything but a JSON object grants nothing.
func normaliseConsent(prefs []byte, gpc bool) (schemas.Consent, schemas.ConsentSignal) {
	var p consentPrefs
	if prefs = bytes.TrimSpace(prefs); len(prefs) > 0 {
		d := getDecoder(len(prefs))
		if v, err := d.parse(prefs); err == nil {
			p = d.prefs(v)
		}
		d.release()
	}
	return p.vector(gpc)
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

// truncateSignal bounds a raw consent string kept on the event (TC strings
// are a few hundred bytes; a longer one is cut, not refused).
func truncateSignal(s string) string {
	const max = 4096
	if len(s) > max {
		return s[:max]
	}
	return s
}
