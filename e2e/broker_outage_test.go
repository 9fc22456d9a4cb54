//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kafkaNode stops or starts the real broker's node 1 through
// scripts/kafka.sh (its data is kept).
func kafkaNode(t *testing.T, cmd string) {
	t.Helper()
	script := os.Getenv("SILLAGE_TEST_KAFKA_SCRIPT")
	out, err := exec.Command("bash", script, cmd, "1").CombinedOutput()
	require.NoError(t, err, "kafka.sh %s 1: %s", cmd, out)
}

// TestBrokerStoppedUnderLoad stops the real Kafka broker during a steady
// load on the collector and starts it again: while it is down the
// collector answers 503 with Retry-After and /readyz fails (there is no
// spool yet), and every event that got a 2xx is on the raw topic exactly
// once. The outage lasts SILLAGE_TEST_OUTAGE (default 10s; the issue's
// case is 30s).
func TestBrokerStoppedUnderLoad(t *testing.T) {
	brokers := realBrokers(t)
	if os.Getenv("SILLAGE_TEST_KAFKA_SCRIPT") == "" {
		t.Skip("needs SILLAGE_TEST_KAFKA_SCRIPT (make test sets it) to stop and start the broker")
	}
	outage := 10 * time.Second
	if v := os.Getenv("SILLAGE_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		outage = d
	}
	id := randomID(t)
	prefix := "sillage.outage" + id + "."
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	const writeKey = "outage-write-key-01"
	p := startSillage(t, collectorAddr, adminAddr, "-target", "collector", "-kafka.brokers", strings.Join(brokers, ","),
		"-kafka.topic-prefix", prefix, "-kafka.partitions", "3", "-kafka.replication-factor", "1",
		"-data.dir", t.TempDir(), "-collector.source", "o:"+writeKey+":*", "-admin.token", "outage-admin-token-"+id,
		"-collector.produce-timeout", "2s")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			kafkaNode(t, "start-node") // leave the broker running for the next tests
		}
	})

	var (
		mu                  sync.Mutex
		acked               = map[string]bool{}
		seq, refused, retry atomic.Int64
		stop                atomic.Bool
	)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n := seq.Add(1)
				msgID := fmt.Sprintf("outage-%s-%d", id, n)
				body := fmt.Sprintf(`{"messageId":%q,"anonymousId":"a-%d","event":"Load"}`, msgID, n%53)
				req, _ := http.NewRequest(http.MethodPost, "http://"+collectorAddr+"/v1/track", strings.NewReader(body))
				req.SetBasicAuth(writeKey, "")
				resp, err := client.Do(req)
				if err != nil {
					refused.Add(1)
					continue
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode/100 == 2:
					mu.Lock()
					acked[msgID] = true
					mu.Unlock()
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					retry.Add(1)
					time.Sleep(100 * time.Millisecond)
				default:
					refused.Add(1)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	kafkaNode(t, "stop-node")
	t.Logf("broker stopped for %s", outage)
	notReady := false
	deadline := time.Now().Add(outage)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + adminAddr + "/readyz"); err == nil {
			resp.Body.Close()
			notReady = notReady || resp.StatusCode == http.StatusServiceUnavailable
		}
		time.Sleep(250 * time.Millisecond)
	}
	kafkaNode(t, "start-node")
	restarted = true
	ackedBefore := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }()
	require.Eventually(t, func() bool { return func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }() > ackedBefore+50 },
		90*time.Second, 200*time.Millisecond, "the collector accepts again once the broker is back")
	stop.Store(true)
	wg.Wait()
	p.stop(t)

	require.True(t, notReady, "/readyz fails while the broker is down")
	require.Positive(t, retry.Load(), "503 with Retry-After while the broker is down")
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	serde := testSerde(t, prefix)
	for _, r := range readTopic(t, brokers, prefix+"events.raw") {
		e, err := serde.DecodeRaw(context.Background(), r.Value)
		require.NoError(t, err)
		seen[e.EventID]++
	}
	missing, twice := 0, 0
	for m := range acked {
		if seen[m] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%d acknowledged, %d answered 503 with Retry-After, %d other failures, %d on the raw topic", len(acked), retry.Load(), refused.Load(), len(seen))
	require.Zero(t, missing, "acknowledged events missing from Kafka")
	require.Zero(t, twice, "events on the raw topic more than once")
}
