package collector

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestPixel(t *testing.T) {
	e := newEnv(t, nil)
	b64 := func(enc *base64.Encoding, s string) string { return url.QueryEscape(enc.EncodeToString([]byte(s))) }
	tests := []struct {
		name, query string
		typ         string
		status      int
		reason      string
		check       func(t *testing.T, ev *schemas.RawEvent)
	}{
		{name: "e-mail open as query fields", typ: "track", status: 200,
			query: "writeKey=" + demoKey + "&event=Email+Opened&userId=u-7&messageId=px-1&properties.campaign=spring&properties.variant=b" +
				"&context.campaign.source=newsletter&context.consent.categoryPreferences.analytics=true&cb=12345",
			check: func(t *testing.T, ev *schemas.RawEvent) {
				require.Equal(t, "demo", ev.Source)
				require.Equal(t, "Email Opened", ev.Event)
				require.Equal(t, "u-7", ev.UserID)
				require.JSONEq(t, `{"campaign":"spring","variant":"b"}`, ev.PropertiesJSON)
				require.JSONEq(t, `{"campaign":{"source":"newsletter"},"consent":{"categoryPreferences":{"analytics":true}}}`, ev.ContextJSON)
				require.Equal(t, schemas.Consent{Necessary: true, Analytics: true}, ev.Consent)
			}},
		{name: "Segment's data= with standard base64", typ: "page", status: 200,
			query: "data=" + b64(base64.StdEncoding, `{"writeKey":"`+demoKey+`","anonymousId":"a-1","name":"Home","messageId":"px-2","properties":{"url":"https://shop.example/?a=b+c"}}`),
			check: func(t *testing.T, ev *schemas.RawEvent) {
				require.Equal(t, "page", ev.Type)
				require.Equal(t, "Home", ev.Event)
				require.Equal(t, "https://shop.example/?a=b+c", ev.PageURL)
				require.Equal(t, schemas.NecessaryOnly(), ev.Consent, "no consent given: fails closed")
			}},
		{name: "data= URL-safe unpadded", typ: "identify", status: 200,
			query: "data=" + base64.RawURLEncoding.EncodeToString([]byte(`{"writeKey":"`+demoKey+`","userId":"u-8","messageId":"px-3","traits":{"email":"a>b?@example.com"}}`)),
			check: func(t *testing.T, ev *schemas.RawEvent) {
				require.Equal(t, "identify", ev.Type)
				require.JSONEq(t, `{"email":"a>b?@example.com"}`, ev.TraitsJSON)
			}},
		{name: "no query", typ: "track", status: 400, reason: reasonInvalidEvent},
		{name: "no write key", typ: "track", query: "event=E&userId=u", status: 401, reason: reasonUnauthorized},
		{name: "unknown write key", typ: "track", query: "writeKey=nope&event=E&userId=u", status: 401, reason: reasonUnauthorized},
		{name: "track without event", typ: "track", query: "writeKey=" + demoKey + "&userId=u", status: 400, reason: reasonInvalidEvent},
		{name: "not base64", typ: "track", query: "data=%25%25%25", status: 400, reason: reasonInvalidEvent},
		{name: "base64 of no JSON", typ: "track", query: "data=" + b64(base64.StdEncoding, "hello"), status: 400, reason: reasonMalformedJSON},
		{name: "value then object", typ: "track", query: "writeKey=" + demoKey + "&event=E&userId=u&properties.a=1&properties.a.b=2", status: 400, reason: reasonInvalidEvent},
		{name: "too deep", typ: "track", query: "writeKey=" + demoKey + "&event=E&userId=u&properties.a.b.c.d=1", status: 400, reason: reasonInvalidEvent},
		{name: "bad timestamp", typ: "track", query: "writeKey=" + demoKey + "&event=E&userId=u&timestamp=yesterday", status: 400, reason: reasonInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, http.MethodGet, "/v1/pixel/"+tt.typ+"?"+tt.query, nil)
			require.Equal(t, tt.status, resp.status, "%s", resp.header.Get("X-Sillage-Error"))
			require.Equal(t, "image/gif", resp.header.Get("Content-Type"))
			require.Equal(t, transparentGIF, resp.body)
			require.Contains(t, resp.header.Get("Cache-Control"), "no-store")
			require.Equal(t, "no-cache", resp.header.Get("Pragma"))
			if tt.reason != "" {
				require.Contains(t, resp.header.Get("X-Sillage-Error"), tt.reason+": ")
			} else {
				require.Empty(t, resp.header.Get("X-Sillage-Error"))
			}
		})
	}
	got := byID(e.records(t))
	for _, tt := range tests {
		if tt.check == nil {
			continue
		}
		var found bool
		for _, ev := range got {
			if ev.Type == tt.typ {
				tt.check(t, ev)
				found = true
			}
		}
		require.True(t, found, tt.name)
	}
	require.Len(t, got, 3, "only the accepted pixels are in Kafka")
	require.Equal(t, 3.0, counterValue(t, e.coll.m.accepted))

	// The GIF is only sent once Kafka acknowledged: with Kafka down it is a 503.
	e.kafkaDown.Store(true)
	down := e.do(t, http.MethodGet, "/v1/pixel/track?writeKey="+demoKey+"&event=E&userId=u", nil)
	e.kafkaDown.Store(false)
	require.Equal(t, http.StatusServiceUnavailable, down.status)
	require.NotEmpty(t, down.header.Get("Retry-After"))
	require.Contains(t, down.header.Get("X-Sillage-Error"), reasonUnavailable)

	post := e.do(t, http.MethodPost, "/v1/pixel/track?writeKey="+demoKey+"&event=E&userId=u", nil)
	require.Equal(t, http.StatusMethodNotAllowed, post.status)
	require.Equal(t, "GET", post.header.Get("Allow"))
}

func TestPixelBase64Alphabets(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0xbe, '{', '}'} // "+/++e30=" in the standard alphabet
	std := base64.StdEncoding.EncodeToString(raw)
	require.Contains(t, std, "+")
	for _, in := range []string{
		std, base64.RawStdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw), strings.ReplaceAll(std, "+", " "),
	} {
		got, err := decodeBase64([]byte(in), 1024)
		require.Nil(t, err, in)
		require.Equal(t, raw, got, in)
	}
	_, err := decodeBase64([]byte(strings.Repeat("A", 4000)), 1024)
	require.Equal(t, reasonEventTooLarge, err.reason)
}
