package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func newTestServer(t *testing.T, tokens ...string) (*Server, *httptest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sillage_test_total", Help: "t"})
	reg.MustRegister(c)
	s := New(Config{Addr: "127.0.0.1:0", Tokens: tokens}, nil, reg)
	srv := httptest.NewServer(s.mux)
	t.Cleanup(srv.Close)
	return s, srv
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsNeedTheToken(t *testing.T) {
	_, srv := newTestServer(t, "a-long-admin-token")
	code, _ := get(t, srv.URL+"/metrics", "")
	require.Equal(t, 401, code)
	code, _ = get(t, srv.URL+"/metrics", "a-long-admin-tokeN")
	require.Equal(t, 401, code)
	code, body := get(t, srv.URL+"/metrics", "a-long-admin-token")
	require.Equal(t, 200, code)
	require.Contains(t, body, "sillage_test_total")
}

func TestNoTokenConfiguredMeansClosed(t *testing.T) {
	_, srv := newTestServer(t)
	code, body := get(t, srv.URL+"/metrics", "anything")
	require.Equal(t, 503, code)
	require.Contains(t, body, "no admin token configured")
}

func TestReadiness(t *testing.T) {
	s, srv := newTestServer(t, "a-long-admin-token")
	code, _ := get(t, srv.URL+"/healthz", "")
	require.Equal(t, 200, code)
	ready := false
	s.AddCheck(Check{Name: "collector", Ready: func() bool { return ready }})
	code, body := get(t, srv.URL+"/readyz", "")
	require.Equal(t, 503, code)
	require.Contains(t, body, `"collector":false`)
	ready = true
	code, _ = get(t, srv.URL+"/readyz", "")
	require.Equal(t, 200, code)
}

func TestSchemaRegistryReadsAreOpenWritesNeedTheToken(t *testing.T) {
	s, srv := newTestServer(t, "a-long-admin-token")
	topics := map[schemas.Kind]string{schemas.KindRaw: "sillage.events.raw", schemas.KindMembership: "sillage.segments.membership"}
	s.HandleSchemaRegistry(schemas.NewEmbeddedRegistry(topics).Handler())
	code, body := get(t, srv.URL+"/subjects", "")
	require.Equal(t, 200, code)
	require.Contains(t, body, "sillage.segments.membership-value")
	code, body = get(t, srv.URL+"/schemas/ids/1", "")
	require.Equal(t, 200, code)
	require.Contains(t, body, "RawEvent")
	resp, err := http.Post(srv.URL+"/subjects/x-value/versions", "application/json", strings.NewReader(`{"schema":"\"string\""}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
}

func TestRunAndShutdown(t *testing.T) {
	s := New(Config{Addr: "127.0.0.1:0", Tokens: []string{"a-long-admin-token"}}, nil, prometheus.NewRegistry())
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + s.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{Addr: ":8081", Tokens: []string{"long-enough-token"}}.Validate())
	require.ErrorContains(t, Config{}.Validate(), "admin.addr")
	require.ErrorContains(t, Config{Addr: ":1", Tokens: []string{"short"}}.Validate(), "admin.tokens[0]")
}
