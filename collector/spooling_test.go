package collector

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func withSpool(dir string, after time.Duration) func(*Config) {
	return func(c *Config) {
		c.Spool.Dir = dir
		c.Spool.After = after
	}
}

// spoolBatch is a /v1/batch body of n track events with ids prefix-0..n-1.
func spoolBatch(prefix string, n int) string {
	b := `{"batch":[`
	for i := 0; i < n; i++ {
		if i > 0 {
			b += ","
		}
		b += fmt.Sprintf(`{"type":"track","event":"Spooled","anonymousId":"a%d","messageId":"%s-%d","properties":{"i":%d}}`, i%9, prefix, i, i)
	}
	return b + `]}`
}

// sendConcurrently posts batches of 5 from 4 clients; it returns the ids
// of the events acknowledged with 200 and the other statuses seen.
func sendConcurrently(t *testing.T, e *testEnv, prefix string, requests int) (acked []string, others []int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := w; r < requests; r += 4 {
				p := fmt.Sprintf("%s%d", prefix, r)
				resp := e.post(t, "/v1/batch", spoolBatch(p, 5))
				mu.Lock()
				if resp.status == http.StatusOK {
					for i := 0; i < 5; i++ {
						acked = append(acked, fmt.Sprintf("%s-%d", p, i))
					}
				} else {
					others = append(others, resp.status)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked, others
}

// requireExactlyOnce checks that the raw topic holds each acknowledged
// event once and nothing else.
func requireExactlyOnce(t *testing.T, e *testEnv, acked []string) {
	t.Helper()
	seen := map[string]int{}
	for _, ev := range e.records(t) {
		seen[ev.EventID]++
	}
	for _, id := range acked {
		require.Equal(t, 1, seen[id], "event %s in Kafka", id)
	}
	require.Len(t, seen, len(acked), "nothing but the acknowledged events")
}

func (e *testEnv) spoolDrained() bool {
	return !e.coll.spooling.Load() && e.coll.spool.Stats().Records == 0
}

// Kafka unreachable: requests are acknowledged from the spool, the
// collector stays ready, and the spool is replayed in order when Kafka is
// back, each event once.
func TestSpoolTakesEventsWhileKafkaIsDown(t *testing.T) {
	e := newEnv(t, withSpool(t.TempDir(), 150*time.Millisecond))
	before, others := sendConcurrently(t, e, "before", 8)
	require.Empty(t, others)

	e.kafkaDown.Store(true)
	during, others := sendConcurrently(t, e, "during", 40)
	require.Empty(t, others, "every request is acknowledged from the spool")
	require.True(t, e.coll.spooling.Load())
	require.Equal(t, len(during), e.coll.spool.Stats().Records, "every event of the outage is spooled")
	require.True(t, e.coll.Ready(), "ready while the spool has room")
	require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, "/readyz", nil).status)
	require.Equal(t, float64(len(during)), counterValue(t, e.coll.m.spooled))

	// A single client's events keep their order through the spool.
	var ordered []string
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("ordered-%d", i)
		require.Equal(t, http.StatusOK, e.post(t, "/v1/track", fmt.Sprintf(`{"event":"O","anonymousId":"same","messageId":%q}`, id)).status)
		ordered = append(ordered, id)
	}

	e.kafkaDown.Store(false)
	require.Eventually(t, e.spoolDrained, 20*time.Second, 20*time.Millisecond)
	after, others := sendConcurrently(t, e, "after", 8)
	require.Empty(t, others)

	all := append(append(append(before, during...), ordered...), after...)
	requireExactlyOnce(t, e, all)
	require.Equal(t, float64(len(all)), counterValue(t, e.coll.m.accepted))
	require.Equal(t, float64(len(during)+len(ordered)), counterValue(t, e.coll.m.replayed)+counterValue(t, e.coll.m.replaySkipped))

	var keyOrder []string
	for _, ev := range e.records(t) {
		if ev.AnonymousID == "same" {
			keyOrder = append(keyOrder, ev.EventID)
		}
	}
	require.Equal(t, ordered, keyOrder, "one key's events in the order they were acknowledged")
}

// A slow broker: the events are spooled after spool.after, and their first
// produce still lands later. The replay finds them in Kafka and does not
// produce them again.
func TestSpoolReplaySkipsEventsTheSlowBrokerWrote(t *testing.T) {
	e := newEnv(t, withSpool(t.TempDir(), 100*time.Millisecond))
	e.produceDelay.Store(int64(400 * time.Millisecond))
	acked, others := sendConcurrently(t, e, "slow", 8)
	require.Empty(t, others)
	require.Positive(t, counterValue(t, e.coll.m.spooled), "the slow requests were spooled")
	e.produceDelay.Store(0)
	require.Eventually(t, e.spoolDrained, 20*time.Second, 20*time.Millisecond)
	requireExactlyOnce(t, e, acked)
	require.Positive(t, counterValue(t, e.coll.m.replaySkipped), "the replay recognised events the broker had written")
}

// A full spool: 503 with Retry-After, counted as spool_full, /readyz
// failing; nothing acknowledged is lost once Kafka is back.
func TestSpoolFull(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		withSpool(t.TempDir(), 100*time.Millisecond)(c)
		c.Spool.MaxBytes = 1 << 20
		c.MaxBodyBytes = 64 << 10
	})
	e.kafkaDown.Store(true)
	var acked []string
	var full response
	for r := 0; r < 2000; r++ {
		p := fmt.Sprintf("fill%d", r)
		resp := e.post(t, "/v1/batch", spoolBatch(p, 20))
		if resp.status != http.StatusOK {
			full = resp
			break
		}
		for i := 0; i < 20; i++ {
			acked = append(acked, fmt.Sprintf("%s-%d", p, i))
		}
	}
	require.Equal(t, http.StatusServiceUnavailable, full.status, "%s", full.body)
	require.Equal(t, "5", full.header.Get("Retry-After"))
	eb := full.errorBody(t)
	require.Equal(t, reasonSpoolFull, eb.Error)
	require.Contains(t, eb.Detail, "spool is full")
	require.Equal(t, 20.0, counterValue(t, e.coll.m.refused.WithLabelValues(reasonSpoolFull)))
	require.False(t, e.coll.Ready())
	require.Equal(t, http.StatusServiceUnavailable, e.do(t, http.MethodGet, "/readyz", nil).status)

	e.kafkaDown.Store(false)
	require.Eventually(t, e.spoolDrained, 30*time.Second, 20*time.Millisecond)
	require.Eventually(t, e.coll.Ready, 5*time.Second, 10*time.Millisecond)
	requireExactlyOnce(t, e, acked)
}

// Events spooled by one collector are replayed by the next one started on
// the same spool directory.
func TestSpoolLeftByAPreviousRunIsReplayed(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, withSpool(dir, 100*time.Millisecond))
	e.kafkaDown.Store(true)
	acked, others := sendConcurrently(t, e, "left", 8)
	require.Empty(t, others)
	// Stop this collector's replay and release the spool, as a stopped
	// process would; its events stay on disk.
	e.stop(t)

	e2 := newEnvOn(t, e, withSpool(dir, 100*time.Millisecond))
	require.True(t, e2.coll.spooling.Load(), "starts in spool mode")
	e.kafkaDown.Store(false)
	require.Eventually(t, e2.spoolDrained, 20*time.Second, 20*time.Millisecond)
	requireExactlyOnce(t, e2, acked)
}
