package collector

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// While Kafka refuses produce requests the collector answers 503 with
// Retry-After within ProduceTimeout and fails /readyz; when Kafka is back it
// recovers, and every event that got a 200 is in Kafka.
func TestKafkaDownGets503AndNothingAcknowledgedIsLost(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 300 * time.Millisecond })
	var (
		mu    sync.Mutex
		acked []string
		seq   int
	)
	send := func(t *testing.T) response {
		mu.Lock()
		seq++
		id := "m-" + strconv.Itoa(seq)
		mu.Unlock()
		body := fmt.Sprintf(`{"batch":[{"type":"track","event":"E","anonymousId":"a%d","messageId":"%s-0"},{"type":"page","userId":"u%d","messageId":"%s-1"}]}`, seq, id, seq, id)
		resp := e.post(t, "/v1/batch", body)
		if resp.status == http.StatusOK {
			mu.Lock()
			acked = append(acked, id+"-0", id+"-1")
			mu.Unlock()
		}
		return resp
	}

	for i := 0; i < 10; i++ {
		require.Equal(t, http.StatusOK, send(t).status)
	}

	e.kafkaDown.Store(true)
	start := time.Now()
	resp := send(t)
	require.Equal(t, http.StatusServiceUnavailable, resp.status, "%s", resp.body)
	require.Less(t, time.Since(start), 2*time.Second, "the worker is not held past ProduceTimeout")
	require.Equal(t, "5", resp.header.Get("Retry-After"))
	eb := resp.errorBody(t)
	require.Equal(t, reasonUnavailable, eb.Error)
	require.Contains(t, eb.Detail, "retry later")
	require.False(t, e.coll.Ready())
	ready := e.do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, ready.status)
	require.Equal(t, 2.0, counterValue(t, e.coll.m.refused.WithLabelValues(reasonUnavailable)))

	// Concurrent clients during the outage: all refused, none hangs.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/track", strings.NewReader(`{"event":"E","userId":"u"}`))
			req.SetBasicAuth(testKey, "")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for _, s := range statuses {
		require.Equal(t, http.StatusServiceUnavailable, s)
	}

	// Kafka is back: clients retrying the same request (same messageIds), as
	// Segment's SDKs do on 503, all get through; the producer may need a few
	// of its retry backoffs to drain what it buffered during the outage.
	e.kafkaDown.Store(false)
	for i := 0; i < 10; i++ {
		mu.Lock()
		seq++
		id := "r-" + strconv.Itoa(seq)
		mu.Unlock()
		body := fmt.Sprintf(`{"batch":[{"type":"track","event":"E","anonymousId":"a%d","messageId":"%s-0"},{"type":"page","userId":"u%d","messageId":"%s-1"}]}`, i, id, i, id)
		require.Eventually(t, func() bool { return e.post(t, "/v1/batch", body).status == http.StatusOK },
			15*time.Second, 20*time.Millisecond)
		acked = append(acked, id+"-0", id+"-1")
	}
	require.Eventually(t, e.coll.Ready, 5*time.Second, 10*time.Millisecond)

	got := byID(e.records(t))
	for _, id := range acked {
		require.Contains(t, got, id, "an acknowledged event is in Kafka")
	}
	require.Equal(t, float64(len(acked)), counterValue(t, e.coll.m.accepted))
	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/readyz", nil).status)
}

// With the cluster gone for good, requests get 503 in bounded time.
func TestKafkaClosedGets503(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProduceTimeout = 300 * time.Millisecond })
	require.Equal(t, http.StatusOK, e.post(t, "/v1/track", `{"event":"E","userId":"u"}`).status)
	e.cluster.Close()
	start := time.Now()
	resp := e.post(t, "/v1/track", `{"event":"E","userId":"u"}`)
	require.Equal(t, http.StatusServiceUnavailable, resp.status, "%s", resp.body)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, http.StatusServiceUnavailable, e.do(t, http.MethodGet, "/readyz", nil).status)
	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/healthz", nil).status, "the process itself is healthy")
}
