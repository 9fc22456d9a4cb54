package collector

import (
	"bytes"
	"encoding/json"
	"strings"

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

// normaliseConsent builds the consent vector of an event from Segment's
// categoryPreferences object (category → bool) and the Sec-GPC header.
//
// Fail closed: no preferences (absent, null or not an object) gives
// necessary processing only; a category is granted only by a JSON true.
// Global Privacy Control forces marketing and advertising off whatever the
// preferences say. The raw preferences are kept in the signal.
func normaliseConsent(prefs json.RawMessage, gpc bool) (schemas.Consent, schemas.ConsentSignal) {
	c := schemas.NecessaryOnly()
	sig := schemas.ConsentSignal{Origin: "none", GPC: gpc}
	prefs = bytes.TrimSpace(prefs)
	var m map[string]json.RawMessage
	if len(prefs) > 0 && prefs[0] == '{' && json.Unmarshal(prefs, &m) == nil {
		sig.Origin = "tag"
		sig.CategoriesJSON = compactObject(prefs)
		seen := map[string]bool{}
		granted := map[string]bool{}
		for name, v := range m {
			cat, ok := categoryAliases[normaliseName(name)]
			if !ok {
				continue
			}
			yes := string(bytes.TrimSpace(v)) == "true"
			if seen[cat] {
				granted[cat] = granted[cat] && yes
			} else {
				seen[cat], granted[cat] = true, yes
			}
		}
		c.Analytics = granted["analytics"]
		c.Personalisation = granted["personalisation"]
		c.Marketing = granted["marketing"]
		c.Advertising = granted["advertising"]
	} else if gpc {
		sig.Origin = "gpc"
	}
	if gpc {
		c.Marketing, c.Advertising = false, false
	}
	return c, sig
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
