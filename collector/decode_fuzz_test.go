package collector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// decodeSeeds are bodies that exercise encoding/json's rules the fastjson
// decoder must keep: case-insensitive and repeated fields, null, numbers
// as identifiers, wrong types, escapes, invalid UTF-8 and lone surrogates.
var decodeSeeds = []string{
	`{"batch":[{"type":"track","event":"E","userId":"u","timestamp":"2024-06-01T12:00:00Z","context":{"consent":{"categoryPreferences":{"analytics":true}}}}]}`,
	`{"batch":[{"type":"identify","anonymousId":7,"traits":{"a":[1,{"b":null}]}}],"context":{"library":{"name":"x"}},"sentAt":"2024-06-01T12:00:00+0200"}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","context":{"library":{"version":"2"}}}],"context":{"library":{"name":"n","version":"1"},"consent":{"categoryPreferences":{"ads":true},"gpc":true}}}`,
	`{"batch":[null]}`, `{"batch":[[]]}`, `{"batch":"x"}`, `{"batch":[],"batch":null}`, `{"batch":[{}],"writeKey":1,"sentAt":{}}`,
	`{"batch":[{"type":"page","userId":"u","properties":{"url":1,"title":"T"},"context":{"page":{"referrer":"r","title":"C"}}}]}`,
	`{"event":"E","anonymousId":"a","context":{"page":"x","library":[],"consent":{"categoryPreferences":[]}}}`,
	"{\"event\":\"a\xffb\",\"userId\":\"u\",\"properties\":{\"k\":\"\xff\xfe\"}}",
	`{"event":"a\ud800b","userId":"u\ud800\u0041","properties":{"k":"\ud800\u00e9\/"},"context":{"page":{"url":"https:\/\/x\u002fy"}}}`,
	`{"event":"a","event":null,"userId":"u","USERID":"v","Event":"b"}`,
	`{"EVENT":"a","user\u0049d":"u","Context":{"PAGE":{"URL":"x"},"ſage":1,"library":{"\u006eame":"l"}}}`,
	`{"event":12,"userId":{}}`, `{"event":12,"name":[],"anonymousId":true}`, `{"event":"x","userId":"u","messageId":-0.5e3}`,
	`{"event":"x","userId":"u","properties":{"a":1,"a":2},"properties":null,"traits":[1],"traits":{"t":"\u00e9"}}`,
	`{"event":"x","userId":"u","context":{"consent":{"categoryPreferences":{"analytics":true,"Analytics":false,"C0002":true}}}}`,
	`{"event":"x","userId":"u","context":{"consent":{"categoryPreferences":{"analytics":false,"analytics":true,"Marketing ":true,"ad-storage":true}}}}`,
	`{"event":"x","userId":"u","context":{"library":{"name":"a"},"library":{"version":"1"},"userAgent":"a","userAgent":1,"locale":{}}}`,
	`{"event":"x","userId":"u","context":{"page":{"url":"a"},"page":null,"consent":{"tcf":"a","tcf":1,"gpc":true,"gpc":1}}}`,
	`{"event":"x","userId":"u","context":{"consent":{"gpc":true,"gpc":false,"tcf":{}}},"context":{"consent":null}}`,
	`{"event":"x","userId":"u","context":{"consent":{"tcString":"COzSDo9OzSDo9B9AAAENAiCAALAAAAAAAAAACOQAQCOAAAAA","gdprApplies":true,"gcs":"G111"}}}`,
	`{"event":"x","userId":"u","context":{"consent":{"tcf":"COzSDo9","TCSTRING":"","gdprApplies":false,"gdprApplies":1,"gcs":"G1-0","gcs":{}}}}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","context":{"consent":{"gcs":"G100"}}}],"context":{"consent":{"tcString":"x","gdprApplies":null}}}`,
	`{"userId":"\ud800","event":"\u0000"}`, `{}`, `{`, `{"batch":[{}]}`, "\xff\xfe{}", `{"a":01}`, `{"a":"\q"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\x01\\n\"}", "{\"a\x1f\\t\":1}",
	`{"a":1.}`, `{"a":-}`, `{"a":NaN}`, `{"a":[1,]}`, `{"a":1} x`, `{"type":"track","event":"E","userId":"u"}  `,
}

func seedDecodeCorpus(f *testing.F, add func(body []byte)) {
	for _, s := range decodeSeeds {
		add([]byte(s))
	}
	files, _ := filepath.Glob("../../shared/data/http-payloads/segment-analytics-go/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			add(b)
		}
	}
	var tag map[string]json.RawMessage
	if b, err := os.ReadFile("testdata/tag-events.json"); err == nil && json.Unmarshal(b, &tag) == nil {
		for _, body := range tag {
			add(body)
		}
	}
	add([]byte(trackBody))
	add([]byte(batchBody(3)))
}

// FuzzDecodeMatchesReference checks that the fastjson decoder takes every
// body exactly as the encoding/json one did (reference_test.go): the same
// refusals, word for word, and the same raw events. The size limits are
// also checked on compacted bodies with a small limit, since events in a
// batch are now measured by their compact JSON.
func FuzzDecodeMatchesReference(f *testing.F) {
	seedDecodeCorpus(f, func(b []byte) {
		f.Add(uint8(0), false, b)
		f.Add(uint8(1), true, b)
	})
	f.Fuzz(func(t *testing.T, ep uint8, gpc bool, body []byte) {
		endpoint := endpoints[int(ep)%len(endpoints)]
		meta := &requestMeta{source: "fuzz", receivedAt: testReceived, ip: "127.0.0.1", userAgent: "UA", gpc: gpc}
		requireSameDecoding(t, endpoint, body, 32*1024, meta, consentSignals{})
		var compact bytes.Buffer
		if json.Compact(&compact, body) == nil {
			requireSameDecoding(t, endpoint, compact.Bytes(), 256, meta, consentSignals{})
		}
	})
}

// requireSameDecoding checks that decodeBody and toRaw take body as the
// reference does; query is a pixel's consent parameters.
func requireSameDecoding(t *testing.T, endpoint string, body []byte, maxEventBytes int, meta *requestMeta, query consentSignals) {
	env, aerr := decodeBody(endpoint, body, maxEventBytes)
	ref, rerr := refDecodeBody(endpoint, body, maxEventBytes)
	if env != nil {
		env.query = query
	}
	if ref != nil {
		ref.query = query
	}
	if aerr != nil && rerr == nil && bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) > 300 {
		require.Contains(t, aerr.detail, "too big depth", "only nesting deeper than fastjson's limit is refused anew")
		return
	}
	require.Equal(t, rerr, aerr, "refusal of %q", body)
	if aerr != nil {
		return
	}
	require.Equal(t, ref.writeKey, env.writeKey)
	require.Equal(t, ref.batch, env.batch)
	require.Len(t, env.events, len(ref.events))
	for i := range env.events {
		idx := i
		if !env.batch {
			idx = -1
		}
		require.Equal(t, ref.events[i].Type, env.events[i].Type)
		got, gerr := toRaw(&env.events[i], idx, env, meta)
		want, werr := refToRaw(&ref.events[i], idx, ref, meta)
		require.Equal(t, werr, gerr, "event %d of %q", i, body)
		if gerr != nil {
			continue
		}
		if env.events[i].MessageID == "" { // generated
			require.Len(t, got.EventID, 36)
			got.EventID = want.EventID
		}
		require.Equal(t, want, got, "event %d of %q", i, body)
		for _, s := range []string{got.ContextJSON, got.PropertiesJSON, got.TraitsJSON} {
			require.True(t, json.Valid([]byte(s)), "%q", s)
		}
	}
}

// FuzzConsentMatchesReference checks the consent rules against the
// encoding/json implementation.
func FuzzConsentMatchesReference(f *testing.F) {
	for _, s := range []string{
		``, `null`, `["analytics"]`, `{}`, `{"analytics":true,"personalisation":true,"marketing":true,"advertising":true}`,
		`{"Strictly Necessary":true,"Performance":true,"Functional":true,"Targeting":true}`, `{"C0001":true,"C0002":true,"C0003":false,"C0004":true}`,
		`{"analytics_storage":true,"ad_storage":true,"ad_user_data":false}`, `{"analytics":"true","marketing":1,"advertising":"yes"}`,
		`{"analytics":true,"analytics":false,"Analytics":true}`, `{"analytics":false,"analytic\u0073":true}`, `{" ANALYTICS\t":true,"mar-ke_ting":true}`,
		`{"marKeting":true,"analytics\u00a0":true,"ﬀ":true}`, `{"a":{"b":[true]},"ads":true,"ads":null}`, `{"analytics":true`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, prefs []byte, gpc bool) {
		wantC, wantS := refNormaliseConsent(prefs, gpc)
		gotC, gotS := normaliseConsent(prefs, gpc)
		require.Equal(t, wantC, gotC)
		require.Equal(t, wantS, gotS)
	})
}

// FuzzPixelMatchesReference checks pixel query strings, both forms, the
// same way: the event they hold is decoded as the encoding/json decoder
// did.
func FuzzPixelMatchesReference(f *testing.F) {
	for _, s := range []string{
		"writeKey=k&event=Email+Opened&userId=u&properties.campaign=spring&context.consent.categoryPreferences.analytics=true&cb=1",
		"data=eyJ3cml0ZUtleSI6ImsiLCJldmVudCI6IkUiLCJ1c2VySWQiOiJ1In0=", "data=%%%", "data=",
		"userId=%00&event=%ff%fe&properties.a=%3C%26%3E&context.page.url=u&context.page.url=v",
		"anonymousId=a&name=N&timestamp=2024-06-01T12:00:00Z&properties.url=https%3A%2F%2Fx%2F",
		"previousId=p&userId=u", "groupId=g&userId=u&traits.name=ACME", "context.library.name=l&userId=u&event=e",
		"userId=u&event=e&gdpr=1&gdpr_consent=COzSDo9OzSDo9B9AAAENAiCAALAAAAAAAAAACOQAQCOAAAAA&gcs=G101",
		"userId=u&event=e&gdpr=0&gdpr_consent=%24%7BGDPR_CONSENT_1%7D&context.consent.gcs=G1x1&context.consent.tcString=COzSDo9",
	} {
		f.Add(uint8(0), false, s)
		f.Add(uint8(1), true, s)
	}
	f.Fuzz(func(t *testing.T, typ uint8, gpc bool, query string) {
		var args fasthttp.Args
		args.Parse(query)
		body, err := pixelBody(&args, 32*1024)
		if err != nil {
			return
		}
		meta := &requestMeta{source: "fuzz", receivedAt: testReceived, ip: "127.0.0.1", userAgent: "UA", gpc: gpc}
		requireSameDecoding(t, pixelTypes[int(typ)%len(pixelTypes)], body, 32*1024, meta, queryConsent(&args))
	})
}
