//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCollectorKilledUnderLoadLosesNothingAcknowledged runs the collector
// alone against real Apache Kafka, sends single events from 8 clients,
// kills the collector with SIGKILL mid-load and restarts it: every event
// that got a 2xx is on the raw topic exactly once. Clients do not retry, so
// an event whose answer was lost may or may not be there, but never twice.
func TestCollectorKilledUnderLoadLosesNothingAcknowledged(t *testing.T) {
	brokers := realBrokers(t)
	id := randomID(t)
	prefix := "sillage.kill" + id + "."
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	const writeKey = "kill-write-key-0001"
	args := []string{"-target", "collector", "-kafka.brokers", strings.Join(brokers, ","),
		"-kafka.topic-prefix", prefix, "-kafka.partitions", "3", "-kafka.replication-factor", "1",
		"-data.dir", t.TempDir(), "-collector.source", "k:" + writeKey + ":*", "-admin.token", "kill-admin-token-" + id}
	p := startSillage(t, collectorAddr, adminAddr, args...)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		seq   atomic.Int64
		other atomic.Int64
	)
	client := &http.Client{Timeout: 5 * time.Second}
	send := func() {
		n := seq.Add(1)
		msgID := fmt.Sprintf("kill-%s-%d", id, n)
		body := fmt.Sprintf(`{"messageId":%q,"anonymousId":"a-%d","event":"Load","properties":{"n":%d}}`, msgID, n%97, n)
		req, _ := http.NewRequest(http.MethodPost, "http://"+collectorAddr+"/v1/track", strings.NewReader(body))
		req.SetBasicAuth(writeKey, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			other.Add(1)
			return
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			mu.Lock()
			acked[msgID] = true
			mu.Unlock()
		} else {
			other.Add(1)
		}
	}
	load := func(d time.Duration) {
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					send()
				}
			}()
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { load(6 * time.Second); close(done) }()
	time.Sleep(2 * time.Second)
	p.kill()
	t.Log("collector killed with SIGKILL under load; restarting")
	p = startSillage(t, collectorAddr, adminAddr, args...)
	<-done
	load(2 * time.Second)
	p.stop(t)

	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(acked), 100, "the load produced acknowledged events")
	serde := testSerde(t, prefix)
	seen := map[string]int{}
	for _, r := range readTopic(t, brokers, prefix+"events.raw") {
		e, err := serde.DecodeRaw(context.Background(), r.Value)
		require.NoError(t, err)
		seen[e.EventID]++
	}
	missing, twice := 0, 0
	for m := range acked {
		switch seen[m] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	for m, n := range seen {
		if n > 1 && !acked[m] {
			twice++
		}
	}
	t.Logf("%d events acknowledged, %d refused or unanswered, %d on the raw topic", len(acked), other.Load(), len(seen))
	require.Zero(t, missing, "acknowledged events missing from Kafka")
	require.Zero(t, twice, "events on the raw topic more than once")
}
