package collector

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestEachEndpointProducesTheEvent(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, path, body string
		headers          []string
		want             schemas.RawEvent
	}{
		{
			name: "track with context", path: "/v1/track",
			body: `{"messageId":"m-track","anonymousId":"a1","event":"Product Added","properties":{"sku":"X", "price": 9.5},
				"timestamp":"2024-06-01T11:59:58.250Z","sentAt":"2024-06-01T11:59:59Z",
				"context":{"userAgent":"UA/ctx","locale":"fr-FR","library":{"name":"sillage.js","version":"0.1.0"},
				"page":{"url":"https://shop.example/p?q=1","path":"/p","referrer":"https://ref.example/","title":"P"},
				"consent":{"categoryPreferences":{"Analytics":true,"Marketing":false}}}}`,
			headers: []string{"User-Agent", "UA/header"},
			want: schemas.RawEvent{EventID: "m-track", Source: "web", Type: "track", Event: "Product Added", AnonymousID: "a1",
				Timestamp: 1717243198250, SentAt: 1717243199000, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "UA/ctx",
				PageURL: "https://shop.example/p?q=1", PagePath: "/p", PageReferrer: "https://ref.example/", PageTitle: "P",
				Locale: "fr-FR", LibraryName: "sillage.js", LibraryVersion: "0.1.0",
				ContextJSON:    `{"userAgent":"UA/ctx","locale":"fr-FR","library":{"name":"sillage.js","version":"0.1.0"},"page":{"url":"https://shop.example/p?q=1","path":"/p","referrer":"https://ref.example/","title":"P"},"consent":{"categoryPreferences":{"Analytics":true,"Marketing":false}}}`,
				PropertiesJSON: `{"sku":"X","price":9.5}`, TraitsJSON: "{}",
				Consent:       schemas.Consent{Necessary: true, Analytics: true},
				ConsentSignal: schemas.ConsentSignal{Origin: "tag", CategoriesJSON: `{"Analytics":true,"Marketing":false}`}},
		},
		{
			name: "page: fields from properties, UA from header, no consent fails closed", path: "/v1/page",
			body:    `{"messageId":"m-page","userId":42,"name":"Home","properties":{"url":"https://shop.example/","path":"/","title":"Home"}}`,
			headers: []string{"User-Agent", "UA/header"},
			want: schemas.RawEvent{EventID: "m-page", Source: "web", Type: "page", Event: "Home", UserID: "42",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "UA/header",
				PageURL: "https://shop.example/", PagePath: "/", PageTitle: "Home", ContextJSON: "{}",
				PropertiesJSON: `{"url":"https://shop.example/","path":"/","title":"Home"}`, TraitsJSON: "{}",
				Consent: schemas.NecessaryOnly(), ConsentSignal: schemas.ConsentSignal{Origin: "none"}},
		},
		{
			name: "identify with the write key in the body and GPC", path: "/v1/identify",
			body:    `{"writeKey":"sillage-demo","messageId":"m-id","userId":"u1","anonymousId":"a1","traits":{"email":"ada@example.com"},"context":{"consent":{"categoryPreferences":{"advertising":true,"analytics":true}}}}`,
			headers: []string{"Authorization", "", "Sec-GPC", "1", "Sec-CH-UA-Platform", `"Linux"`},
			want: schemas.RawEvent{EventID: "m-id", Source: "demo", Type: "identify", UserID: "u1", AnonymousID: "a1",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				ClientHints: map[string]string{"sec-ch-ua-platform": `"Linux"`},
				ContextJSON: `{"consent":{"categoryPreferences":{"advertising":true,"analytics":true}}}`, PropertiesJSON: "{}",
				TraitsJSON: `{"email":"ada@example.com"}`, Consent: schemas.Consent{Necessary: true, Analytics: true},
				ConsentSignal: schemas.ConsentSignal{Origin: "tag", CategoriesJSON: `{"advertising":true,"analytics":true}`, GPC: true}},
		},
		{
			name: "tag signals: TCF string and GPC in the body", path: "/v1/track",
			body: `{"messageId":"m-tcf","anonymousId":"a2","event":"x","context":{"consent":{"categoryPreferences":{"analytics":true,"marketing":true},"tcf":"CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA","gpc":true}}}`,
			want: schemas.RawEvent{EventID: "m-tcf", Source: "web", Type: "track", Event: "x", AnonymousID: "a2",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				ContextJSON:    `{"consent":{"categoryPreferences":{"analytics":true,"marketing":true},"tcf":"CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA","gpc":true}}`,
				PropertiesJSON: "{}", TraitsJSON: "{}",
				Consent: schemas.Consent{Necessary: true, Analytics: true},
				ConsentSignal: schemas.ConsentSignal{Origin: "tag", CategoriesJSON: `{"analytics":true,"marketing":true}`,
					TCF: "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", GPC: true}},
		},
		{
			name: "alias", path: "/v1/alias", body: `{"messageId":"m-alias","previousId":"a1","userId":"u1"}`,
			want: schemas.RawEvent{EventID: "m-alias", Source: "web", Type: "alias", UserID: "u1", PreviousID: "a1",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				ContextJSON: "{}", PropertiesJSON: "{}", TraitsJSON: "{}", Consent: schemas.NecessaryOnly(),
				ConsentSignal: schemas.ConsentSignal{Origin: "none"}},
		},
		{
			name: "group, type in the body is the endpoint's", path: "/v1/group",
			body: `{"type":"track","messageId":"m-group","groupId":"g1","userId":"u1","traits":{"plan":"pro"}}`,
			want: schemas.RawEvent{EventID: "m-group", Source: "web", Type: "group", UserID: "u1", GroupID: "g1",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				ContextJSON: "{}", PropertiesJSON: "{}", TraitsJSON: `{"plan":"pro"}`, Consent: schemas.NecessaryOnly(),
				ConsentSignal: schemas.ConsentSignal{Origin: "none"}},
		},
		{
			name: "screen, offset without colon", path: "/v1/screen",
			body: `{"messageId":"m-screen","anonymousId":"a2","name":"Checkout","timestamp":"2024-06-01T13:00:00+0100"}`,
			want: schemas.RawEvent{EventID: "m-screen", Source: "web", Type: "screen", Event: "Checkout", AnonymousID: "a2",
				Timestamp: testReceived, ReceivedAt: testReceived, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				ContextJSON: "{}", PropertiesJSON: "{}", TraitsJSON: "{}", Consent: schemas.NecessaryOnly(),
				ConsentSignal: schemas.ConsentSignal{Origin: "none"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.post(t, tt.path, tt.body, tt.headers...)
			require.Equal(t, http.StatusOK, resp.status, "body %s", resp.body)
			require.JSONEq(t, `{"success":true}`, string(resp.body))
		})
	}
	got := byID(e.records(t))
	require.Len(t, got, len(tests))
	for _, tt := range tests {
		ev := got[tt.want.EventID]
		require.NotNil(t, ev, tt.name)
		require.Equal(t, tt.want, *ev, tt.name)
	}
	require.Equal(t, float64(len(tests)), counterValue(t, e.coll.m.accepted))
}

// The exact bodies Segment's Go SDK sends (shared/data/http-payloads).
func TestSegmentGoSDKBatches(t *testing.T) {
	files, _ := filepath.Glob("../../shared/data/http-payloads/segment-analytics-go/*.json")
	if len(files) == 0 {
		t.Skip("../shared/data (relative to the repository) is not here")
	}
	e := newEnv(t, nil)
	wantTypes := map[string]int{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		// The SDK's fixtures share one messageId; make them distinct so
		// that each record can be found.
		body = bytes.ReplaceAll(body, []byte(`"messageId": "I'm unique"`), []byte(`"messageId": "`+filepath.Base(f)+`"`))
		resp := e.post(t, "/v1/batch", string(body))
		require.Equal(t, http.StatusOK, resp.status, "%s: %s", f, resp.body)
		env, aerr := decodeBody("batch", body, 32*1024)
		require.Nil(t, aerr)
		for _, ev := range env.events {
			wantTypes[ev.Type]++
		}
	}
	recs := e.records(t)
	gotTypes := map[string]int{}
	for _, r := range recs {
		gotTypes[r.Type]++
		require.Equal(t, "analytics-go", r.LibraryName, "library comes from the batch context")
		require.Equal(t, "3.0.0", r.LibraryVersion)
		require.Equal(t, int64(1257894000000), r.SentAt, "sentAt comes from the batch")
		require.NotEmpty(t, r.EventID)
	}
	require.Equal(t, wantTypes, gotTypes)
	require.Len(t, recs, 14)
}

func TestBatchAndBeaconBodies(t *testing.T) {
	e := newEnv(t, nil)
	var batch strings.Builder
	batch.WriteString(`{"writeKey":"sillage-demo","sentAt":"2024-06-01T11:59:59Z","batch":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			batch.WriteString(",")
		}
		batch.WriteString(`{"type":"track","event":"Product Viewed","anonymousId":"a` + string(rune('a'+i)) + `","properties":{"i":` + string(rune('0'+i%10)) + `}}`)
	}
	batch.WriteString(`]}`)

	// sendBeacon posts text/plain with the write key in the body, from a page.
	resp := e.do(t, http.MethodPost, "/v1/batch", []byte(batch.String()),
		"Content-Type", "text/plain;charset=UTF-8", "Origin", "https://anywhere.example")
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, "https://anywhere.example", resp.header.Get("Access-Control-Allow-Origin"))

	// The same batch gzipped.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(batch.String()))
	require.NoError(t, zw.Close())
	resp = e.do(t, http.MethodPost, "/v1/batch", gz.Bytes(), "Content-Encoding", "gzip", "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)

	recs := e.records(t)
	require.Len(t, recs, 40)
	ids := map[string]bool{}
	for _, r := range recs {
		require.Equal(t, "demo", r.Source)
		require.Len(t, r.EventID, 36, "a messageId is generated when missing")
		ids[r.EventID] = true
	}
	require.Len(t, ids, 40, "generated messageIds are unique")
}

func TestBadRequestsGetAJSONError(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 8 * 1024; c.MaxEventBytes = 2 * 1024 })
	big := `{"anonymousId":"a","event":"x","properties":{"pad":"` + strings.Repeat("x", 3000) + `"}}`
	var bigBatch strings.Builder
	bigBatch.WriteString(`{"batch":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			bigBatch.WriteString(",")
		}
		bigBatch.WriteString(`{"type":"track","anonymousId":"a","event":"x","properties":{"pad":"` + strings.Repeat("x", 1000) + `"}}`)
	}
	bigBatch.WriteString(`]}`)
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		reason, detail           string
	}{
		{"malformed JSON", "POST", "/v1/track", `{"event":`, nil, 400, reasonMalformedJSON, "truncated"},
		{"syntax error", "POST", "/v1/batch", `{"batch":[{"type":"track",}]}`, nil, 400, reasonMalformedJSON, "not valid JSON"},
		{"not an object", "POST", "/v1/track", `["x"]`, nil, 400, reasonMalformedJSON, "not a JSON object"},
		{"empty body", "POST", "/v1/track", ``, nil, 400, reasonMalformedJSON, "empty"},
		{"empty batch", "POST", "/v1/batch", `{"batch":[]}`, nil, 400, reasonInvalidEvent, "batch: missing or empty"},
		{"batch is not an array", "POST", "/v1/batch", `{"batch":{}}`, nil, 400, reasonInvalidEvent, "batch: want an array"},
		{"missing type in batch", "POST", "/v1/batch", `{"batch":[{"type":"track","event":"a","userId":"u"},{"event":"b","userId":"u"}]}`, nil, 400, reasonInvalidEvent, "batch[1].type: missing"},
		{"unknown type", "POST", "/v1/batch", `{"batch":[{"type":"purchase","userId":"u"}]}`, nil, 400, reasonInvalidEvent, `batch[0].type: "purchase" is not one of`},
		{"no identity", "POST", "/v1/track", `{"event":"x"}`, nil, 400, reasonInvalidEvent, "neither userId nor anonymousId"},
		{"placeholder identity", "POST", "/v1/track", `{"event":"x","userId":"null","anonymousId":"  "}`, nil, 400, reasonInvalidEvent, `neither userId ("null") nor anonymousId ("  ") identifies anyone`},
		{"no identity in batch", "POST", "/v1/batch", `{"batch":[{"type":"page","anonymousId":""}]}`, nil, 400, reasonInvalidEvent, "batch[0].userId: neither"},
		{"track without event", "POST", "/v1/track", `{"userId":"u"}`, nil, 400, reasonInvalidEvent, "event: a track call needs an event name"},
		{"alias without previousId", "POST", "/v1/alias", `{"userId":"u"}`, nil, 400, reasonInvalidEvent, "previousId"},
		{"group without groupId", "POST", "/v1/group", `{"userId":"u"}`, nil, 400, reasonInvalidEvent, "groupId"},
		{"invalid timestamp", "POST", "/v1/batch", `{"batch":[{"type":"track","event":"x","userId":"u","timestamp":"yesterday"}]}`, nil, 400, reasonInvalidEvent, `batch[0].timestamp: "yesterday" is not an ISO-8601`},
		{"invalid sentAt", "POST", "/v1/track", `{"event":"x","userId":"u","sentAt":"2024-13-01T00:00:00Z"}`, nil, 400, reasonInvalidEvent, "sentAt"},
		{"userId of the wrong type", "POST", "/v1/batch", `{"batch":[{"type":"track","event":"x","userId":{"id":1}}]}`, nil, 400, reasonInvalidEvent, "batch[0].userId: want a string, got JSON object"},
		{"properties not an object", "POST", "/v1/track", `{"event":"x","userId":"u","properties":[1]}`, nil, 400, reasonInvalidEvent, "properties: want an object, got JSON array"},
		{"event of the wrong type", "POST", "/v1/track", `{"event":12,"userId":"u"}`, nil, 400, reasonInvalidEvent, "event: want a string, got JSON number"},
		{"oversize event", "POST", "/v1/track", big, nil, 413, reasonEventTooLarge, "the limit is 2048"},
		{"oversize event in batch", "POST", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"x"},` + big + `]}`, nil, 413, reasonEventTooLarge, "batch[1] is"},
		{"oversize body", "POST", "/v1/batch", bigBatch.String(), nil, 413, reasonBodyTooLarge, "body exceeds 8192 bytes"},
		{"unknown write key", "POST", "/v1/track", `{"event":"x","userId":"u"}`, []string{"Authorization", basic("nope")}, 401, reasonUnauthorized, "unknown write key"},
		{"unknown write key in body", "POST", "/v1/track", `{"writeKey":"nope","event":"x","userId":"u"}`, []string{"Authorization", ""}, 401, reasonUnauthorized, "unknown write key"},
		{"missing write key", "POST", "/v1/track", `{"event":"x","userId":"u"}`, []string{"Authorization", ""}, 401, reasonUnauthorized, "missing write key"},
		{"bearer instead of basic", "POST", "/v1/track", `{"event":"x","userId":"u"}`, []string{"Authorization", "Bearer x"}, 401, reasonUnauthorized, "want Basic"},
		{"bad base64", "POST", "/v1/track", `{"event":"x","userId":"u"}`, []string{"Authorization", "Basic !!!"}, 401, reasonUnauthorized, "base64"},
		{"origin not allowed for the source", "POST", "/v1/track", `{"event":"x","userId":"u"}`, []string{"Origin", "https://evil.example"}, 403, reasonOriginNotAllowed, "https://evil.example is not allowed for source web"},
		{"GET on the API", "GET", "/v1/track", ``, nil, 405, reasonMethod, "use POST"},
		{"unknown endpoint", "POST", "/v1/purchase", `{}`, nil, 404, reasonNotFound, "/v1/purchase"},
		{"brotli", "POST", "/v1/track", `{}`, []string{"Content-Encoding", "br"}, 415, reasonBadEncoding, `"br" is not supported`},
		{"bad gzip", "POST", "/v1/track", `{}`, []string{"Content-Encoding", "gzip"}, 400, reasonBadEncoding, "not valid gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := append([]string{"Authorization", basic(testKey)}, tt.headers...)
			resp := e.do(t, tt.method, tt.path, []byte(tt.body), headers...)
			require.Equal(t, tt.status, resp.status, "body %s", resp.body)
			require.Equal(t, "application/json", resp.header.Get("Content-Type"))
			eb := resp.errorBody(t)
			require.Equal(t, tt.reason, eb.Error)
			require.Contains(t, eb.Detail, tt.detail)
		})
	}
	require.Empty(t, e.records(t), "nothing of a refused request reaches Kafka")
	require.Zero(t, counterValue(t, e.coll.m.accepted))
	perReason := map[string]float64{}
	for _, tt := range tests {
		perReason[tt.reason]++
	}
	perReason[reasonInvalidEvent]++  // "missing type in batch" refuses both its events
	perReason[reasonEventTooLarge]++ // so does "oversize event in batch"
	for reason, n := range perReason {
		require.Equal(t, n, counterValue(t, e.coll.m.refused.WithLabelValues(reason)), reason)
	}
}
