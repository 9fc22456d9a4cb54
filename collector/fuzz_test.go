package collector

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/schemas"
)

var endpoints = []string{"batch", "track", "page", "screen", "identify", "group", "alias"}

// FuzzBatchDecode feeds arbitrary bodies to the request decoder: it must
// never panic, and what it accepts must be a valid raw event.
func FuzzBatchDecode(f *testing.F) {
	files, _ := filepath.Glob("../../shared/data/http-payloads/segment-analytics-go/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(uint8(0), b)
		}
	}
	for _, s := range []string{
		`{"batch":[{"type":"track","event":"E","userId":"u","timestamp":"2024-06-01T12:00:00Z","context":{"consent":{"categoryPreferences":{"analytics":true}}}}]}`,
		`{"batch":[{"type":"identify","anonymousId":7,"traits":{"a":[1,{"b":null}]}}],"context":{"library":{"name":"x"}},"sentAt":"2024-06-01T12:00:00+0200"}`,
		`{"batch":[null]}`, `{"batch":[[]]}`, `{"batch":"x"}`, `{"batch":[{"type":"page","userId":"u","properties":{"url":1}}]}`,
		`{"event":"E","anonymousId":"a","context":{"page":"x","library":[],"consent":{"categoryPreferences":[]}}}`,
		`{"userId":"\ud800","event":"\u0000"}`, `{}`, `{`, `{"batch":[{}]}`, "\xff\xfe{}",
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	meta := &requestMeta{source: "fuzz", receivedAt: testReceived, ip: "127.0.0.1"}
	topics := map[schemas.Kind]string{schemas.KindRaw: testTopic}
	serde, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, ep uint8, body []byte) {
		endpoint := endpoints[int(ep)%len(endpoints)]
		env, aerr := decodeBody(endpoint, body, 32*1024)
		if aerr != nil {
			require.GreaterOrEqual(t, aerr.status, 400)
			require.NotEmpty(t, aerr.detail)
			return
		}
		require.NotEmpty(t, env.events)
		for i := range env.events {
			idx := i
			if !env.batch {
				idx = -1
			}
			ev, err := toRaw(&env.events[i], idx, env, meta)
			if err != nil {
				require.Equal(t, 400, err.status)
				continue
			}
			require.True(t, eventTypes[ev.Type])
			require.NotEmpty(t, ev.EventID)
			require.NotEmpty(t, ev.Key())
			require.True(t, ev.Consent.Necessary)
			b, eerr := serde.Encode(schemas.KindRaw, &ev, nil)
			require.NoError(t, eerr, "an accepted event encodes")
			back, derr := serde.DecodeRaw(context.Background(), b)
			require.NoError(t, derr)
			require.Equal(t, ev.EventID, back.EventID)
		}
	})
}

var pixelTypes = []string{"track", "page", "screen", "identify", "group", "alias"}

// FuzzPixelQuery feeds arbitrary query strings to the pixel decoder: it
// must never panic, refusals are 4xx with a detail, and what it accepts is
// one event of the path's type that becomes a valid raw event or a 400.
func FuzzPixelQuery(f *testing.F) {
	for _, s := range []string{
		"writeKey=k&event=Email+Opened&userId=u&properties.campaign=spring&context.consent.categoryPreferences.analytics=true&cb=1",
		"data=eyJ3cml0ZUtleSI6ImsiLCJldmVudCI6IkUiLCJ1c2VySWQiOiJ1In0=",
		"data=eyJ3cml0ZUtleSI6ImsiLCJldmVudCI6IkUiLCJ1c2VySWQiOiJ1In0", "data=%%%", "data=",
		"properties.a=1&properties.a.b=2", "properties.a.b=1&properties.a=2", "properties..a=1", "context.=1",
		"traits.a.b.c.d.e=1", "userId=%00&event=%ff%fe", "anonymousId=a&name=N&timestamp=2024-06-01T12:00:00Z",
		"previousId=p&userId=u", "groupId=g&userId=u&traits.name=ACME", "a&b&=&&==", "",
		"userId=u&event=e&gdpr=1&gdpr_consent=COzSDo9OzSDo9B9AAAENAiCAALAAAAAAAAAACOQAQCOAAAAA&gcs=G101",
		"userId=u&event=e&gdpr_consent=%24%7BGDPR_CONSENT_1%7D&gcs=G1&context.consent.gcs=G111",
	} {
		f.Add(uint8(0), s)
		f.Add(uint8(4), s)
	}
	meta := &requestMeta{source: "fuzz", receivedAt: testReceived, ip: "127.0.0.1"}
	f.Fuzz(func(t *testing.T, typ uint8, query string) {
		var args fasthttp.Args
		args.Parse(query)
		endpoint := pixelTypes[int(typ)%len(pixelTypes)]
		env, aerr := decodePixel(endpoint, &args, 32*1024)
		if aerr != nil {
			require.GreaterOrEqual(t, aerr.status, 400)
			require.Less(t, aerr.status, 500)
			require.NotEmpty(t, aerr.detail)
			return
		}
		require.Len(t, env.events, 1)
		require.False(t, env.batch)
		require.Equal(t, endpoint, env.events[0].Type)
		ev, err := toRaw(&env.events[0], -1, env, meta)
		if err != nil {
			require.Equal(t, 400, err.status)
			return
		}
		require.Equal(t, endpoint, ev.Type)
		require.True(t, ev.Consent.Necessary)
		for _, ce := range env.events[0].consentErrors {
			require.Contains(t, []string{"tcf", "gcs"}, ce.Signal)
			require.NotEmpty(t, ce.Error())
			if ev.ConsentSignal.Origin == ce.Signal || ce.Signal == "gcs" && ev.ConsentSignal.Origin == "gcm" {
				require.Equal(t, schemas.NecessaryOnly(), ev.Consent, "a malformed signal that decides grants nothing")
			}
		}
		require.NotEmpty(t, ev.Key())
		require.True(t, ev.Consent.Necessary)
	})
}
