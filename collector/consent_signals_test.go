package collector

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

// tcWithPurposes returns a v2 string of ../shared/data/consent in which the
// IAB reference decoder found exactly these purposes consented (and no
// purpose-one treatment).
func tcWithPurposes(t *testing.T, purposes ...int) string {
	t.Helper()
	b, err := os.ReadFile("../../shared/data/consent/tcf_strings_decoded.json")
	require.NoError(t, err, "the shared consent data set (../shared/data/consent beside the repository)")
	var f struct {
		Entries []struct {
			TCString string `json:"tc_string"`
			Decoded  *struct {
				Version             int   `json:"version"`
				PurposeOneTreatment bool  `json:"purposeOneTreatment"`
				PurposeConsents     []int `json:"purposeConsents"`
			} `json:"decoded"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	for _, e := range f.Entries {
		if d := e.Decoded; d != nil && d.Version == 2 && !d.PurposeOneTreatment && slices.Equal(d.PurposeConsents, purposes) {
			return e.TCString
		}
	}
	t.Fatalf("no v2 string with purposes %v", purposes)
	return ""
}

func vec(cats ...string) schemas.Consent {
	c := schemas.NecessaryOnly()
	for _, cat := range cats {
		switch cat {
		case "analytics":
			c.Analytics = true
		case "personalisation":
			c.Personalisation = true
		case "marketing":
			c.Marketing = true
		case "advertising":
			c.Advertising = true
		}
	}
	return c
}

// Events carrying a TC string, gdprApplies, gcs and Sec-GPC, through the
// real HTTP API and pixel into Kafka: each gets the vector the precedence
// gives, the raw signals are kept, and a malformed signal is a 200 with
// necessary consent, a counted error and an X-Sillage-Consent-Error header.
func TestConsentSignalsEndToEnd(t *testing.T) {
	all := tcWithPurposes(t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) // every category
	mkt := tcWithPurposes(t, 1, 3, 4)                       // marketing only
	none := tcWithPurposes(t)                               // a refusal of everything
	const bad = "CPtest-not-a-tc-string"
	e := newEnv(t, nil)

	type want struct {
		consent  schemas.Consent
		signal   schemas.ConsentSignal
		errorHdr string // substring of X-Sillage-Consent-Error, "" for none
	}
	tests := []struct {
		name    string
		id      string
		body    string // POST /v1/track, or a pixel query when pixel
		pixel   bool
		headers []string
		want    want
	}{
		{name: "tcString (SDKs, __tcfapi's name) decides alone", id: "tc-all",
			body: `{"context":{"consent":{"tcString":"` + all + `"}}}`,
			want: want{vec("analytics", "personalisation", "marketing", "advertising"), schemas.ConsentSignal{Origin: "tcf", TCF: all}, ""}},
		{name: "tcf (the tag's name) decides alone", id: "tc-tag",
			body: `{"context":{"consent":{"tcf":"` + mkt + `"}}}`,
			want: want{vec("marketing"), schemas.ConsentSignal{Origin: "tcf", TCF: mkt}, ""}},
		{name: "a refusal of every purpose", id: "tc-none",
			body: `{"context":{"consent":{"tcString":"` + none + `","gdprApplies":true}}}`,
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "tcf", TCF: none}, ""}},
		{name: "Sec-GPC withdraws marketing and advertising from TCF", id: "tc-gpc",
			body: `{"context":{"consent":{"tcString":"` + all + `"}}}`, headers: []string{"Sec-GPC", "1"},
			want: want{vec("analytics", "personalisation"), schemas.ConsentSignal{Origin: "tcf", TCF: all, GPC: true}, ""}},
		{name: "malformed TC string: kept, necessary only, counted, named", id: "tc-bad",
			body: `{"context":{"consent":{"tcString":"` + bad + `","gcs":"G111"}}}`,
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "tcf", TCF: bad, GCS: "G111"}, "tcf: decoding TC string"}},
		{name: "gdprApplies false: the TC string is kept but not read", id: "tc-nogdpr",
			body: `{"context":{"consent":{"tcString":"` + all + `","gdprApplies":false}}}`,
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "none", TCF: all}, ""}},
		{name: "categoryPreferences win over TCF and gcs", id: "prefs-win",
			body: `{"context":{"consent":{"categoryPreferences":{"analytics":true},"tcString":"` + all + `","gcs":"G111"}}}`,
			want: want{vec("analytics"), schemas.ConsentSignal{Origin: "tag", CategoriesJSON: `{"analytics":true}`, TCF: all, GCS: "G111"}, ""}},
		{name: "TCF wins over gcs", id: "tcf-over-gcs",
			body: `{"context":{"consent":{"tcString":"` + mkt + `","gcs":"G111"}}}`,
			want: want{vec("marketing"), schemas.ConsentSignal{Origin: "tcf", TCF: mkt, GCS: "G111"}, ""}},
		{name: "gcs in context", id: "gcs-ctx",
			body: `{"context":{"consent":{"gcs":"G101"}}}`,
			want: want{vec("analytics"), schemas.ConsentSignal{Origin: "gcm", GCS: "G101"}, ""}},
		{name: "gcs with Sec-GPC", id: "gcs-gpc",
			body: `{"context":{"consent":{"gcs":"G111"}}}`, headers: []string{"Sec-GPC", "1"},
			want: want{vec("analytics"), schemas.ConsentSignal{Origin: "gcm", GCS: "G111", GPC: true}, ""}},
		{name: "malformed gcs", id: "gcs-bad",
			body: `{"context":{"consent":{"gcs":"G1yes"}}}`,
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "gcm", GCS: "G1yes"}, `gcs: gcs "G1yes": want G1 followed by two of 0, 1, -`}},

		{name: "pixel: gdpr_consent and gdpr=1", id: "px-tcf", pixel: true,
			body: "gdpr=1&gdpr_consent=" + url.QueryEscape(all),
			want: want{vec("analytics", "personalisation", "marketing", "advertising"), schemas.ConsentSignal{Origin: "tcf", TCF: all}, ""}},
		{name: "pixel: gdpr=0 leaves gcs to decide", id: "px-nogdpr", pixel: true,
			body: "gdpr=0&gcs=G110&gdpr_consent=" + url.QueryEscape(all),
			want: want{vec("advertising"), schemas.ConsentSignal{Origin: "gcm", TCF: all, GCS: "G110"}, ""}},
		{name: "pixel: gcs", id: "px-gcs", pixel: true, body: "gcs=G111",
			want: want{vec("analytics", "advertising"), schemas.ConsentSignal{Origin: "gcm", GCS: "G111"}, ""}},
		{name: "pixel: an unexpanded ad server macro is malformed", id: "px-macro", pixel: true,
			body: "gdpr=1&gdpr_consent=" + url.QueryEscape("${GDPR_CONSENT_123}"),
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "tcf", TCF: "${GDPR_CONSENT_123}"}, "tcf: TC string has '$' at byte 0"}},
		{name: "pixel: the event's own context wins over the query", id: "px-ctx", pixel: true,
			body: "context.consent.gcs=G100&gcs=G111",
			want: want{schemas.NecessaryOnly(), schemas.ConsentSignal{Origin: "gcm", GCS: "G100"}, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp response
			if tt.pixel {
				q := "writeKey=" + testKey + "&event=Email+Opened&anonymousId=a&messageId=" + tt.id + "&" + tt.body
				if tt.id == "px-tcf" { // and Segment's data= form
					ev := `{"writeKey":"` + testKey + `","event":"Email Opened","anonymousId":"a","messageId":"` + tt.id + `"}`
					q = "data=" + base64.StdEncoding.EncodeToString([]byte(ev)) + "&" + tt.body
				}
				resp = e.do(t, http.MethodGet, "/v1/pixel/track?"+q, nil, tt.headers...)
			} else {
				body := `{"messageId":"` + tt.id + `","anonymousId":"a","event":"E",` + strings.TrimPrefix(tt.body, "{")
				resp = e.post(t, "/v1/track", body, tt.headers...)
			}
			require.Equal(t, http.StatusOK, resp.status, "a consent signal never refuses an event: %s", resp.body)
			if tt.want.errorHdr == "" {
				require.Empty(t, resp.header.Get("X-Sillage-Consent-Error"))
			} else {
				require.Contains(t, resp.header.Get("X-Sillage-Consent-Error"), tt.want.errorHdr)
			}
		})
	}
	got := byID(e.records(t))
	require.Len(t, got, len(tests))
	for _, tt := range tests {
		ev := got[tt.id]
		require.NotNil(t, ev, tt.name)
		require.Equal(t, tt.want.consent, ev.Consent, tt.name)
		require.Equal(t, tt.want.signal, ev.ConsentSignal, tt.name)
	}
	require.Equal(t, 2.0, counterValue(t, e.coll.m.consentErrors.WithLabelValues("tcf")), "tc-bad, px-macro")
	require.Equal(t, 1.0, counterValue(t, e.coll.m.consentErrors.WithLabelValues("gcs")), "gcs-bad")

	// The metric is exposed with its two labels.
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	var labels []string
	for _, mf := range mfs {
		if mf.GetName() == "sillage_collector_consent_errors_total" {
			for _, m := range mf.GetMetric() {
				labels = append(labels, m.GetLabel()[0].GetValue())
			}
		}
	}
	require.ElementsMatch(t, []string{"tcf", "gcs"}, labels)
}

// In a batch, each event's signals are its own (else the batch context's);
// the header names the first malformed one by index, and a refused batch
// counts no consent error.
func TestConsentSignalsInABatch(t *testing.T) {
	all := tcWithPurposes(t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	e := newEnv(t, nil)
	body := `{"context":{"consent":{"tcString":"` + all + `"}},"batch":[
		{"type":"track","event":"E","anonymousId":"a","messageId":"b0"},
		{"type":"track","event":"E","anonymousId":"a","messageId":"b1","context":{"consent":{"tcString":"COzSDo9"}}},
		{"type":"track","event":"E","anonymousId":"a","messageId":"b2","context":{"consent":{"gcs":"G2"}}}]}`
	resp := e.post(t, "/v1/batch", body)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, "batch[1]: tcf: decoding TC string: vendor consent strings are at least 29 bytes long. This one was 5 (and 1 more)",
		resp.header.Get("X-Sillage-Consent-Error"))

	refused := strings.Replace(body, `"messageId":"b0"}`, `"messageId":"b0","timestamp":"yesterday"}`, 1)
	require.Equal(t, http.StatusBadRequest, e.post(t, "/v1/batch", refused).status)

	got := byID(e.records(t))
	require.Len(t, got, 3)
	require.Equal(t, vec("analytics", "personalisation", "marketing", "advertising"), got["b0"].Consent, "the batch context's TC string")
	require.Equal(t, "tcf", got["b0"].ConsentSignal.Origin)
	require.Equal(t, schemas.NecessaryOnly(), got["b1"].Consent)
	require.Equal(t, schemas.ConsentSignal{Origin: "tcf", TCF: "COzSDo9"}, got["b1"].ConsentSignal)
	require.Equal(t, schemas.ConsentSignal{Origin: "gcm", GCS: "G2"}, got["b2"].ConsentSignal, "its own context replaces the batch's")
	require.Equal(t, 1.0, counterValue(t, e.coll.m.consentErrors.WithLabelValues("tcf")))
	require.Equal(t, 1.0, counterValue(t, e.coll.m.consentErrors.WithLabelValues("gcs")))
}
