package consent

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

// Strings of tcf_strings_decoded.json used below, with what the reference
// decoder says of them.
const (
	// Purposes 1, 3 and 4 consented: marketing only.
	tcMarketing = "COzSDo9OzSDo9B9AAAENAiCAALAAAAAAAAAACOQAQCOAAAAA"
	// v1: grants nothing.
	tcV1 = "BONV8oqONXwgmADACHENAO7pqzAAppY"
)

func consentOf(cats ...string) schemas.Consent {
	c := schemas.NecessaryOnly()
	for _, cat := range cats {
		set(&c, cat, true)
	}
	return c
}

// tcWithPurposes returns a v2 string of the shared file in which the
// reference decoder found exactly the purposes want consented, failing if
// there is none.
func tcWithPurposes(t *testing.T, want []int, p1Treatment bool) string {
	t.Helper()
	for _, e := range loadTCFEntries(t) {
		if e.Decoded != nil && e.Decoded.Version == 2 && e.Decoded.PurposeOneTreatment == p1Treatment &&
			slices.Equal(e.Decoded.PurposeConsents, want) {
			return e.TCString
		}
	}
	t.Fatalf("no v2 string in tcf_strings_decoded.json consents to exactly %v (purposeOneTreatment %v)", want, p1Treatment)
	return ""
}

func TestTCFVectorFromDataset(t *testing.T) {
	// Every v2 string of the file maps by TCFPurposes: checked for each in
	// TestTCFStringsMatchReferenceDecoder. Here, whole vectors of a few.
	all := tcWithPurposes(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false)
	got, err := DecodeTCF(all)
	require.NoError(t, err)
	v, err := got.Vector()
	require.NoError(t, err)
	require.Equal(t, consentOf("analytics", "personalisation", "marketing", "advertising"), v)

	// No purpose consented: necessary only, and no error (a valid refusal).
	for _, e := range loadTCFEntries(t) {
		if e.Decoded != nil && e.Decoded.Version == 2 && len(e.Decoded.PurposeConsents) == 0 {
			r := Resolve(Input{TCF: e.TCString})
			require.Equal(t, Result{Consent: schemas.NecessaryOnly(), Origin: OriginTCF}, r, e.TCString)
		}
	}
}

func TestResolvePrecedence(t *testing.T) {
	all := tcWithPurposes(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false)
	site := consentOf("personalisation")
	everything := consentOf("analytics", "personalisation", "marketing", "advertising")
	tests := []struct {
		name   string
		in     Input
		want   schemas.Consent
		origin string
		errs   []string // signals reported malformed
	}{
		{"nothing: fail closed", Input{}, schemas.NecessaryOnly(), OriginNone, nil},
		{"site's categories alone", Input{Preferences: &site}, site, OriginTag, nil},
		{"site's categories win over TCF and gcs", Input{Preferences: &site, TCF: all, GCS: "G111"}, site, OriginTag, nil},
		{"site's categories cannot deny necessary", Input{Preferences: &schemas.Consent{}}, schemas.NecessaryOnly(), OriginTag, nil},
		{"TCF alone", Input{TCF: all}, everything, OriginTCF, nil},
		{"TCF: purposes 1, 3, 4 give marketing only", Input{TCF: tcMarketing}, consentOf("marketing"), OriginTCF, nil},
		{"TCF wins over gcs", Input{TCF: all, GCS: "G100"}, everything, OriginTCF, nil},
		{"TCF with gdprApplies true", Input{TCF: all, GDPRApplies: AppliesYes}, everything, OriginTCF, nil},
		{"gdprApplies false: the TC string is not read, gcs decides", Input{TCF: all, GDPRApplies: AppliesNo, GCS: "G101"},
			consentOf("analytics"), OriginGCM, nil},
		{"gdprApplies false and nothing else: fail closed", Input{TCF: all, GDPRApplies: AppliesNo}, schemas.NecessaryOnly(), OriginNone, nil},
		{"gdprApplies false: a malformed string is not even read", Input{TCF: "%%%", GDPRApplies: AppliesNo}, schemas.NecessaryOnly(), OriginNone, nil},
		{"malformed TC string: necessary only, even with gcs granting", Input{TCF: "CPtest-tcloaded", GCS: "G111"},
			schemas.NecessaryOnly(), OriginTCF, []string{"tcf"}},
		{"TCF v1 grants nothing, reported", Input{TCF: tcV1}, schemas.NecessaryOnly(), OriginTCF, []string{"tcf"}},
		{"malformed TC string reported even when the site decides", Input{Preferences: &site, TCF: "COvzTO5"}, site, OriginTag, []string{"tcf"}},
		{"gcs G111", Input{GCS: "G111"}, consentOf("analytics", "advertising"), OriginGCM, nil},
		{"gcs G110", Input{GCS: "G110"}, consentOf("advertising"), OriginGCM, nil},
		{"gcs G101", Input{GCS: "G101"}, consentOf("analytics"), OriginGCM, nil},
		{"gcs G100", Input{GCS: "G100"}, schemas.NecessaryOnly(), OriginGCM, nil},
		{"gcs not set", Input{GCS: "G1--"}, schemas.NecessaryOnly(), OriginGCM, nil},
		{"malformed gcs", Input{GCS: "G2"}, schemas.NecessaryOnly(), OriginGCM, []string{"gcs"}},
		{"both malformed", Input{TCF: "C", GCS: "x"}, schemas.NecessaryOnly(), OriginTCF, []string{"tcf", "gcs"}},
		{"GPC alone", Input{GPC: true}, schemas.NecessaryOnly(), OriginGPC, nil},
		{"GPC restricts the site's categories", Input{Preferences: &everything, GPC: true},
			consentOf("analytics", "personalisation"), OriginTag, nil},
		{"GPC restricts TCF", Input{TCF: all, GPC: true}, consentOf("analytics", "personalisation"), OriginTCF, nil},
		{"GPC restricts gcs", Input{GCS: "G111", GPC: true}, consentOf("analytics"), OriginGCM, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.in)
			require.Equal(t, tt.want, r.Consent)
			require.Equal(t, tt.origin, r.Origin)
			var sigs []string
			for _, e := range r.Errors {
				sigs = append(sigs, e.Signal)
				require.True(t, strings.HasPrefix(e.Error(), e.Signal+": "), e.Error())
			}
			require.Equal(t, tt.errs, sigs)
		})
	}
}

// Purpose-one treatment: purpose 1 was not put to the user, so nothing
// that needs it (every category) is granted, whatever else is consented.
func TestTCFPurposeOneTreatment(t *testing.T) {
	n := 0
	for _, e := range loadTCFEntries(t) {
		if e.Decoded == nil || !e.Decoded.PurposeOneTreatment {
			continue
		}
		n++
		r := Resolve(Input{TCF: e.TCString})
		require.Equal(t, schemas.NecessaryOnly(), r.Consent, e.TCString)
		require.Empty(t, r.Errors)
	}
	require.NotZero(t, n, "the shared file has strings with purposeOneTreatment")
}

// The errors of malformed strings name what is wrong.
func TestDecodeTCFErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "TC string is empty"},
		{tcMarketing + "=", `TC string has '=' at byte 48: want base64url`},
		{"CO+zTO5", `TC string has '+' at byte 2`},
		{tcMarketing[:20], "decoding TC string:"},
		{"." + tcMarketing, "empty core segment"},
		{tcMarketing + ".", "segment 2 is empty"},
		{tcMarketing + ".AAAA", "segment 2 has type 0: want 1 (disclosed vendors), 2 (allowed vendors) or 3 (publisher purposes)"},
		{tcMarketing + ".I", "segment 2: disclosed vendors max vendor id needs bits 3-18, the segment has 6"},
		{tcV1 + ".IAAA", "TCF v1 but has '.'-separated segments"},
		{strings.Repeat("C", MaxSignalBytes+1), "longer than 16384"},
	}
	for _, tt := range tests {
		t.Run(clip(tt.in), func(t *testing.T) {
			_, err := DecodeTCF(tt.in)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// The known disagreements of SOURCES.md whose strings are not in
// tcf_strings_decoded.json, handled explicitly.
func TestTCFKnownDisagreementsOutsideTheFile(t *testing.T) {
	// Trailing '=' padding: some decoders accept it, the JS reference
	// decoder throws "Invalidly encoded Base64URL string". Sillage sides
	// with the reference (TC strings are base64url without padding): an
	// error, and necessary only.
	r := Resolve(Input{TCF: tcMarketing + "="})
	require.Equal(t, schemas.NecessaryOnly(), r.Consent)
	require.Len(t, r.Errors, 1)
	require.ErrorContains(t, r.Errors[0], "'='")

	// "BTAwMTEw…" is not a TC string but the base64 of a bit string written
	// as ASCII '0'/'1' (a LiveRamp unit test): its first six bits happen to
	// read as version 1. The original is cut in SOURCES.md; strings of that
	// shape never grant anything, with an error, whatever follows.
	for _, bitsText := range []string{"00110", "0011010011001100110000000000001000000000000001", "001100" + strings.Repeat("01", 40)} {
		s := base64.RawURLEncoding.EncodeToString(append([]byte{0x05}, bitsText...))
		require.True(t, strings.HasPrefix(s, "BTAwMTEw"), s)
		r := Resolve(Input{TCF: s})
		require.Equal(t, schemas.NecessaryOnly(), r.Consent, s)
		require.Len(t, r.Errors, 1, s)
		t.Logf("%s: %v", clip(s), r.Errors[0])
	}
}

// TCFPurposes is the table of the browser tag (tag/src/index.js), so that
// the tag's categoryPreferences and the collector's decoding of the same
// TC string agree.
func TestTCFPurposesMatchTheTag(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(moduleRoot(t), "tag", "src", "index.js"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^var TCF = \{(.*)\};$`).FindSubmatch(src)
	require.NotNil(t, m, "tag/src/index.js has no `var TCF = {...};` line")
	tag := map[string][]int{}
	for _, row := range regexp.MustCompile(`(\w+): \[([0-9, ]*)\]`).FindAllSubmatch(m[1], -1) {
		var ps []int
		for _, p := range strings.Split(string(row[2]), ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			require.NoError(t, err)
			ps = append(ps, n)
		}
		tag[string(row[1])] = ps
	}
	want := map[string][]int{}
	for _, row := range TCFPurposes {
		want[row.Category] = row.Purposes
		require.Contains(t, row.Purposes, 1, "purpose 1 gates %s", row.Category)
	}
	require.Equal(t, want, tag)
}

// The cost the collector pays per event carrying a TC string.
//
//	go test ./collector/consent -run '^$' -bench Resolve -benchtime 2s
func BenchmarkResolveTCF(b *testing.B) {
	var long string
	for _, e := range loadTCFEntries(b) {
		if len(e.TCString) > len(long) && e.Decoded != nil {
			long = e.TCString
		}
	}
	for _, bc := range []struct{ name, tc string }{{"short", tcMarketing}, {"longest", long}} {
		b.Run(bc.name+"_"+strconv.Itoa(len(bc.tc))+"B", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := Resolve(Input{TCF: bc.tc, GCS: "G111"}); r.Origin != OriginTCF || len(r.Errors) > 0 {
					b.Fatal(r)
				}
			}
		})
	}
}
