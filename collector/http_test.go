package collector

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, method, origin string
		auth                 string
		status               int
		allowOrigin          string
	}{
		{"preflight from a listed origin", "OPTIONS", "https://shop.example", "", 204, "https://shop.example"},
		{"preflight from anywhere is allowed by the demo source", "OPTIONS", "https://other.example", "", 204, "https://other.example"},
		{"preflight without origin", "OPTIONS", "", "", 403, ""},
		{"post from a listed origin", "POST", "https://shop.example", testKey, 200, "https://shop.example"},
		{"post from an origin the source does not list", "POST", "https://other.example", testKey, 403, "https://other.example"},
		{"post from anywhere to the demo source", "POST", "https://other.example", demoKey, 200, "https://other.example"},
		{"post without origin (server)", "POST", "", testKey, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Access-Control-Request-Method", "POST"}
			if tt.origin != "" {
				headers = append(headers, "Origin", tt.origin)
			}
			if tt.auth != "" {
				headers = append(headers, "Authorization", basic(tt.auth))
			}
			resp := e.do(t, tt.method, "/v1/track", []byte(`{"event":"E","userId":"u"}`), headers...)
			require.Equal(t, tt.status, resp.status, "%s", resp.body)
			require.Equal(t, tt.allowOrigin, resp.header.Get("Access-Control-Allow-Origin"))
			if tt.allowOrigin != "" {
				require.Equal(t, "Origin", resp.header.Get("Vary"))
			}
			if tt.method == "OPTIONS" && tt.status == 204 {
				require.Contains(t, resp.header.Get("Access-Control-Allow-Headers"), "Authorization")
				require.Equal(t, "POST, OPTIONS", resp.header.Get("Access-Control-Allow-Methods"))
			}
		})
	}
}

func TestStaticFilesAndProbes(t *testing.T) {
	e := newEnv(t, nil)

	tag := e.do(t, http.MethodGet, "/tag.js", nil, "Accept-Encoding", "identity")
	require.Equal(t, http.StatusOK, tag.status)
	require.Equal(t, tagJS, tag.body)
	require.Equal(t, "application/javascript; charset=utf-8", tag.header.Get("Content-Type"))
	require.Contains(t, string(tag.body), "sillage.js")

	// net/http's transport asks for gzip and decompresses transparently.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/tag.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(resp.Body)
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, tagJS, unzipped)

	notModified := e.do(t, http.MethodGet, "/tag.js", nil, "If-None-Match", tag.header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, notModified.status)
	require.Empty(t, notModified.body)

	demo := e.do(t, http.MethodGet, "/demo", nil)
	require.Equal(t, http.StatusOK, demo.status)
	require.Equal(t, "text/html; charset=utf-8", demo.header.Get("Content-Type"))
	for _, want := range []string{"sillage-demo", "/tag.js", "Product Viewed", "Product Added", "Signed Up", "sillage.consent(", "sillage.segments.membership"} {
		require.Contains(t, string(demo.body), want)
	}

	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/healthz", nil).status)
	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/readyz", nil).status)
	require.Equal(t, http.StatusMethodNotAllowed, e.do(t, http.MethodPost, "/tag.js", nil).status)
	nf := e.do(t, http.MethodGet, "/nope", nil)
	require.Equal(t, http.StatusNotFound, nf.status)
	require.Equal(t, reasonNotFound, nf.errorBody(t).Error)
}

// Run listens on Addr, is ready once Kafka answers, and returns nil after an
// orderly stop; requests in flight finish.
func TestRunStopsInOrder(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg := testConfig()
	cfg.Addr = addr
	c, err := New(cfg, Deps{Producer: e.prod, Serde: e.serde, Topic: testTopic})
	require.NoError(t, err)
	require.False(t, c.Ready(), "not ready before Run")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	require.Eventually(t, c.Ready, 5*time.Second, 10*time.Millisecond)

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/track", strings.NewReader(`{"event":"E","userId":"u","messageId":"run-1"}`))
	req.SetBasicAuth(testKey, "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.False(t, c.Ready())
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener is closed")
	require.Contains(t, byID(e.records(t)), "run-1")

	// Run reports a port in use.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg.Addr = busy.Addr().String()
	c2, err := New(cfg, Deps{Producer: e.prod, Serde: e.serde, Topic: testTopic})
	require.NoError(t, err)
	require.ErrorContains(t, c2.Run(context.Background()), "listening on "+cfg.Addr)
}

func TestNewChecksDeps(t *testing.T) {
	_, err := New(testConfig(), Deps{})
	require.ErrorContains(t, err, "Deps.Producer is required")
	require.ErrorContains(t, err, "Deps.Serde is required")
	require.ErrorContains(t, err, "Deps.Topic is required")
	_, err = New(Config{}, Deps{})
	require.ErrorContains(t, err, "collector.addr")
}

func TestRequestHeadersTooLarge(t *testing.T) {
	e := newEnv(t, nil)
	// A raw connection: the server answers 431 and closes while the
	// request is still being written, so an HTTP client can see its write
	// fail (broken pipe) before it reads the answer.
	u, err := url.Parse(e.url)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	req := "POST /v1/track HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Big: " + strings.Repeat("x", 20*1024) +
		"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	_, _ = conn.Write([]byte(req)) // may fail once the server has answered
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer hr.Body.Close()
	body, err := io.ReadAll(hr.Body)
	require.NoError(t, err)
	resp := response{status: hr.StatusCode, header: hr.Header, body: body}
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.status, "%s", resp.body)
	require.Equal(t, reasonBadRequest, resp.errorBody(t).Error)
}

// Bodies exactly as sillage.js 0.1.0 sends them (testdata/tag-events.json,
// captured from tag/test/browser.mjs) are accepted the way the tag sends
// them: text/plain, write key in the body, from a page's origin.
func TestAcceptsWhatTheTagSends(t *testing.T) {
	b, err := os.ReadFile("testdata/tag-events.json")
	require.NoError(t, err)
	var sent map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &sent))
	require.Len(t, sent, 3)
	e := newEnv(t, nil)
	for typ, body := range sent {
		resp := e.do(t, http.MethodPost, "/v1/"+typ, body, "Content-Type", "text/plain;charset=UTF-8", "Origin", "https://shop.example")
		require.Equal(t, http.StatusOK, resp.status, "%s: %s", typ, resp.body)
	}
	for _, ev := range e.records(t) {
		require.Equal(t, "demo", ev.Source)
		require.Equal(t, "sillage.js", ev.LibraryName)
		require.Equal(t, "https://shop.example/p/1?x=1", ev.PageURL)
		require.NotZero(t, ev.SentAt)
		if ev.Type == "page" {
			// The automatic page view left before the visitor chose.
			require.Equal(t, schemas.NecessaryOnly(), ev.Consent)
			require.Equal(t, "none", ev.ConsentSignal.Origin)
			continue
		}
		require.Equal(t, schemas.Consent{Necessary: true, Analytics: true}, ev.Consent, ev.Type)
		require.Equal(t, "tag", ev.ConsentSignal.Origin)
		require.Equal(t, "u-1", ev.UserID)
	}
}

// A request fasthttp cannot parse is refused without echoing it: the
// answer (and the log) carry neither the Authorization header nor the body.
func TestUnparsableRequestIsNotEchoed(t *testing.T) {
	e := newEnv(t, nil)
	u, err := url.Parse(e.url)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	req := "POST /v1/track HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Basic c2VjcmV0LWtleTo=\r\n" +
		"Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n\r\n{\"userId\":\"secret-user\"}"
	_, _ = conn.Write([]byte(req))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer hr.Body.Close()
	body, err := io.ReadAll(hr.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, hr.StatusCode, "%s", body)
	require.NotContains(t, string(body), "c2VjcmV0LWtleTo=")
	require.NotContains(t, string(body), "secret-user")
	require.Contains(t, string(body), "cannot parse the HTTP request")
}

func TestRedactRequest(t *testing.T) {
	got := redactRequest(`error when reading request headers: duplicate Content-Type header: buffer size=120, contents: "POST /v1/track HTTP/1.1\r\nAuthorization: Basic eA=="`)
	require.Equal(t, "error when reading request headers: duplicate Content-Type header", got)
}
