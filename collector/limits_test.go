package collector

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func batchOf(n int, prefix string) string {
	evs := make([]string, n)
	for i := range evs {
		evs[i] = `{"type":"track","event":"E","userId":"u","messageId":"` + prefix + strings.Repeat("x", i+1) + `"}`
	}
	return `{"batch":[` + strings.Join(evs, ",") + `]}`
}

func TestRateLimitPerWriteKey(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Sources[0].RateLimit = RateLimit{EventsPerSecond: 1, Burst: 3} })
	limited := e.coll.m.refused.WithLabelValues(reasonRateLimited)
	tests := []struct {
		name       string
		key, body  string
		status     int
		retryAfter string
		refused    float64
	}{
		{"two events fit the bucket of three", testKey, batchOf(2, "a"), 200, "", 0},
		{"two more do not: all refused", testKey, batchOf(2, "b"), 429, "1", 2},
		{"the last token takes one event", testKey, batchOf(1, "c"), 200, "", 2},
		{"a batch larger than the bucket waits for a full bucket", testKey, batchOf(5, "d"), 429, "3", 7},
		{"another write key has its own (absent) limit", demoKey, batchOf(5, "e"), 200, "", 7},
	}
	for _, tt := range tests {
		resp := e.do(t, http.MethodPost, "/v1/batch", []byte(tt.body), "Authorization", basic(tt.key))
		require.Equal(t, tt.status, resp.status, "%s: %s", tt.name, resp.body)
		require.Equal(t, tt.retryAfter, resp.header.Get("Retry-After"), tt.name)
		if tt.status == 429 {
			eb := resp.errorBody(t)
			require.Equal(t, reasonRateLimited, eb.Error, tt.name)
			require.Contains(t, eb.Detail, "source web is limited to 1 events/s (burst 3)", tt.name)
			require.Equal(t, "application/json", resp.header.Get("Content-Type"))
		}
		require.Equal(t, tt.refused, counterValue(t, limited), tt.name)
	}
	require.Len(t, e.records(t), 2+1+5, "refused events are not produced")

	// Invalid events take no token.
	before := e.coll.limiters["web"].Tokens()
	bad := e.post(t, "/v1/batch", `{"batch":[{"type":"track","userId":"u"},{"type":"track","userId":"u"}]}`)
	require.Equal(t, 400, bad.status)
	require.InDelta(t, before, e.coll.limiters["web"].Tokens(), 0.5)
}

func TestConcurrencyCap(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrentRequests = 1; c.ProduceTimeout = time.Second })
	e.kafkaDown.Store(true)
	var wg sync.WaitGroup
	var first response
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = e.post(t, "/v1/track", `{"event":"E","userId":"u","messageId":"slow"}`)
	}()
	require.Eventually(t, func() bool { return e.coll.inflight.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	for _, path := range []string{"/v1/track", "/v1/pixel/track?writeKey=" + demoKey + "&event=E&userId=u"} {
		method := http.MethodPost
		if strings.Contains(path, "pixel") {
			method = http.MethodGet
		}
		resp := e.do(t, method, path, []byte(`{"event":"E","userId":"u"}`), "Authorization", basic(testKey))
		require.Equal(t, http.StatusServiceUnavailable, resp.status, path)
		require.Equal(t, "1", resp.header.Get("Retry-After"), path)
		if method == http.MethodPost {
			require.Equal(t, reasonOverloaded, resp.errorBody(t).Error)
		} else {
			require.Equal(t, "image/gif", resp.header.Get("Content-Type"))
			require.Contains(t, resp.header.Get("X-Sillage-Error"), reasonOverloaded)
		}
	}
	require.Equal(t, 2.0, counterValue(t, e.coll.m.refused.WithLabelValues(reasonOverloaded)))
	// Probes and static files are not event requests: never capped.
	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/healthz", nil).status)

	wg.Wait()
	require.Equal(t, http.StatusServiceUnavailable, first.status, "%s", first.body)
	require.Equal(t, int64(0), e.coll.inflight.Load())
	e.kafkaDown.Store(false)
}
