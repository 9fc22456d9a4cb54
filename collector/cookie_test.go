package collector

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func withCookie(c *Config) {
	c.Sources[0].Cookie = Cookie{Name: "sillage_aid", Domain: "shop.example", MaxAge: 30 * 24 * time.Hour}
}

func event(anon, consent string) string {
	ctx := ""
	if consent != "" {
		ctx = `,"context":{"consent":{"categoryPreferences":` + consent + `}}`
	}
	return `{"event":"E","anonymousId":"` + anon + `"` + ctx + `}`
}

func TestIdentityCookie(t *testing.T) {
	e := newEnv(t, withCookie)
	origin := []string{"Origin", "https://shop.example"}

	resp := e.post(t, "/v1/track", event("3f1c2a8e-5d4b-4e8f-9a21-7c3b6d0e1f42", `{"analytics":true}`), origin...)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	cookies := (&http.Response{Header: resp.header}).Cookies()
	require.Len(t, cookies, 1)
	ck := cookies[0]
	require.Equal(t, "sillage_aid", ck.Name)
	require.Equal(t, "3f1c2a8e-5d4b-4e8f-9a21-7c3b6d0e1f42", ck.Value)
	require.Equal(t, "shop.example", ck.Domain)
	require.Equal(t, "/", ck.Path)
	require.Equal(t, 30*24*3600, ck.MaxAge)
	require.True(t, ck.Secure)
	require.False(t, ck.HttpOnly, "the tag reads it")
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.Equal(t, "true", resp.header.Get("Access-Control-Allow-Credentials"))
	require.Equal(t, "https://shop.example", resp.header.Get("Access-Control-Allow-Origin"))

	// A batch: the last event decides.
	resp = e.post(t, "/v1/batch", `{"batch":[{"type":"track","event":"A","anonymousId":"first","context":{"consent":{"categoryPreferences":{"analytics":true}}}},`+
		`{"type":"page","anonymousId":"second","context":{"consent":{"categoryPreferences":{"analytics":true}}}}]}`)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Contains(t, resp.header.Get("Set-Cookie"), "sillage_aid=second;")

	for name, body := range map[string]string{
		"no consent":                     event("anon-1", ""),
		"analytics denied":               event("anon-1", `{"analytics":false,"marketing":true}`),
		"no anonymous id":                `{"event":"E","userId":"u-1","context":{"consent":{"categoryPreferences":{"analytics":true}}}}`,
		"id not fit for a cookie":        event(`a b;c`, `{"analytics":true}`),
		"id too long for a cookie":       event(strings.Repeat("x", 129), `{"analytics":true}`),
		"refused request (no write key)": "",
	} {
		t.Run(name, func(t *testing.T) {
			var r response
			if body == "" {
				r = e.do(t, http.MethodPost, "/v1/track", []byte(event("anon-1", `{"analytics":true}`)))
				require.Equal(t, http.StatusUnauthorized, r.status)
			} else {
				r = e.post(t, "/v1/track", body)
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			}
			require.Empty(t, r.header.Values("Set-Cookie"))
		})
	}

	// Analytics withdrawn while the browser holds the cookie: deleted.
	resp = e.post(t, "/v1/track", event("fresh-memory-id", `{"analytics":false}`), "Cookie", "sillage_aid=3f1c2a8e")
	require.Equal(t, http.StatusOK, resp.status)
	cookies = (&http.Response{Header: resp.header}).Cookies()
	require.Len(t, cookies, 1)
	require.Equal(t, "sillage_aid", cookies[0].Name)
	require.Empty(t, cookies[0].Value)
	require.True(t, cookies[0].Expires.Before(time.Now()), "expired: %v", cookies[0].Expires)

	// A source without a cookie never sets one.
	resp = e.do(t, http.MethodPost, "/v1/track", []byte(event("anon-2", `{"analytics":true}`)), "Authorization", basic(demoKey))
	require.Equal(t, http.StatusOK, resp.status)
	require.Empty(t, resp.header.Values("Set-Cookie"))
}

func TestCookieConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		ck   Cookie
		want string
	}{
		"ok":           {Cookie{Name: "sillage_aid", Domain: ".shop.example"}, ""},
		"bad name":     {Cookie{Name: "a=b"}, "cookie.name"},
		"domain alone": {Cookie{Domain: "shop.example"}, "cookie.name"},
		"bad domain":   {Cookie{Name: "x", Domain: "shop example"}, "cookie.domain"},
		"negative age": {Cookie{Name: "x", MaxAge: -time.Second}, "cookie.max_age"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Sources[0].Cookie = tc.ck
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "collector.sources[0]."+tc.want)
		})
	}
}
