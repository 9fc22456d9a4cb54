package consent

import (
	"regexp"
	"testing"

	"github.com/sillage/sillage/schemas"
)

// FuzzDecodeTCF: no input crashes the decoder; what it accepts is a v1 or
// v2 string whose vector follows TCFPurposes, and what it refuses comes
// with an error that says something.
//
//	go test ./collector/consent -run '^$' -fuzz FuzzDecodeTCF -fuzztime 20s
func FuzzDecodeTCF(f *testing.F) {
	for _, e := range loadTCFEntries(f) {
		f.Add(e.TCString)
	}
	f.Add(tcMarketing + ".IF5EX2S5OI2tho2YdF7BEYYwfJxyigMgShgQIsS8N.QAAA.YAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tc, err := DecodeTCF(s)
		if err != nil {
			if tc != nil || err.Error() == "" {
				t.Fatalf("%q: %v with a result %v", s, err, tc)
			}
			return
		}
		// The accessors the dataset test uses read what was decoded
		// without panicking (go-gdpr reads some fields lazily).
		_, _, _ = tc.VendorConsents(), tc.PurposeLegitimateInterests(), tc.SpecialFeatureOptIns()
		_, _ = tc.VendorLegitimateInterests(), tc.PublisherRestriction(1, RestrictionRequireConsent, 1)
		v, verr := tc.Vector()
		switch tc.Version {
		case 1:
			if verr != ErrTCFv1 || v != schemas.NecessaryOnly() {
				t.Fatalf("%q: v1 gives %+v, %v", s, v, verr)
			}
			return
		case 2:
		default:
			t.Fatalf("%q: version %d accepted", s, tc.Version)
		}
		if verr != nil || !v.Necessary {
			t.Fatalf("%q: %+v, %v", s, v, verr)
		}
		for _, row := range TCFPurposes {
			want := !tc.PurposeOneTreatment
			for _, p := range row.Purposes {
				want = want && tc.PurposeConsent(p)
			}
			if v.Get(row.Category) != want {
				t.Fatalf("%q: %s is %v, purposes %v", s, row.Category, v.Get(row.Category), tc.PurposeConsents())
			}
		}
		sg := tc.Segments
		for _, l := range [][]int{sg.DisclosedVendors, sg.AllowedVendors, sg.PublisherConsents, sg.PublisherLegitInterests,
			sg.PublisherCustomConsents, sg.PublisherCustomLegitInter} {
			// Ids from 1, strictly increasing (no repeats), at most 65535.
			for i, id := range l {
				if id < 1 || id > 0xffff || i > 0 && id <= l[i-1] {
					t.Fatalf("%q: segment list %v", s, l)
				}
			}
		}
	})
}

var gcsSyntax = regexp.MustCompile(`^G1[01-][01-]$`)

// FuzzParseGCS: exactly G1 and two of 0, 1, - are accepted, read position
// by position.
//
//	go test ./collector/consent -run '^$' -fuzz FuzzParseGCS -fuzztime 20s
func FuzzParseGCS(f *testing.F) {
	for _, s := range []string{"G100", "G101", "G110", "G111", "G1--", "G1-1", "", "G1", "G11", "G1111", "g111", "G211", "G1x1", "G1\xff1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGCS(s)
		if gcsSyntax.MatchString(s) != (err == nil) {
			t.Fatalf("%q: %v", s, err)
		}
		if err != nil {
			return
		}
		state := map[byte]State{'0': Denied, '1': Granted, '-': Unset}
		if g.AdStorage != state[s[2]] || g.AnalyticsStorage != state[s[3]] {
			t.Fatalf("%q: %+v", s, g)
		}
	})
}

// FuzzResolve: whatever the signals, necessary is kept, GPC withdraws
// marketing and advertising, the site's categories decide when given, a
// malformed signal grants nothing when it decides, and only signals given
// are reported.
//
//	go test ./collector/consent -run '^$' -fuzz FuzzResolve -fuzztime 20s
func FuzzResolve(f *testing.F) {
	f.Add(uint8(0), "", uint8(0), "", false)
	f.Add(uint8(0x1f), tcMarketing, uint8(1), "G111", true)
	f.Add(uint8(0), tcMarketing, uint8(2), "G101", false)
	f.Add(uint8(0), "CPtest", uint8(0), "G111", false)
	f.Add(uint8(0), "", uint8(0), "G1x1", true)
	f.Fuzz(func(t *testing.T, prefs uint8, tcf string, applies uint8, gcs string, gpc bool) {
		in := Input{TCF: tcf, GDPRApplies: Applies(applies % 3), GCS: gcs, GPC: gpc}
		var p schemas.Consent
		if prefs&0x20 != 0 {
			p = schemas.Consent{Necessary: prefs&1 != 0, Analytics: prefs&2 != 0, Personalisation: prefs&4 != 0,
				Marketing: prefs&8 != 0, Advertising: prefs&16 != 0}
			in.Preferences = &p
		}
		r := Resolve(in)
		c := r.Consent
		if !c.Necessary || gpc && (c.Marketing || c.Advertising) {
			t.Fatalf("%+v: %v", in, r)
		}
		if in.Preferences != nil {
			want := p
			want.Necessary = true
			if gpc {
				want.Marketing, want.Advertising = false, false
			}
			if c != want || r.Origin != OriginTag {
				t.Fatalf("%+v: %v", in, r)
			}
		}
		for _, e := range r.Errors {
			switch {
			case e.Signal == "tcf" && (tcf == "" || in.GDPRApplies == AppliesNo),
				e.Signal == "gcs" && gcs == "",
				e.Signal != "tcf" && e.Signal != "gcs":
				t.Fatalf("%+v: %v reported", in, e)
			}
			if e.Signal == r.Origin || e.Signal == "gcs" && r.Origin == OriginGCM {
				if c != schemas.NecessaryOnly() {
					t.Fatalf("%+v: malformed %s decided %+v", in, e.Signal, c)
				}
			}
		}
	})
}
