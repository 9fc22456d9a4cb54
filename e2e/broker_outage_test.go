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
// load on the collector and starts it again. The collector has its spool
// (the default): every request during the outage is acknowledged from the
// spool and /readyz stays ready. Halfway through the outage the collector
// is killed with SIGKILL and restarted on the same spool. Once the broker
// is back the spool is replayed, and every event that got a 2xx is on the
// raw topic exactly once. The outage lasts 30 seconds (the case;
// SILLAGE_TEST_OUTAGE changes it).
func TestBrokerStoppedUnderLoad(t *testing.T) {
	brokerOutage(t, true, 30*time.Second)
}

// TestBrokerStoppedUnderLoadWithoutSpool is the same outage with the spool
// off: the collector answers 503 with Retry-After and /readyz fails while
// the broker is down, and every event that got a 2xx is in Kafka once. The
// outage lasts 10 seconds (or SILLAGE_TEST_OUTAGE).
func TestBrokerStoppedUnderLoadWithoutSpool(t *testing.T) {
	brokerOutage(t, false, 10*time.Second)
}

func brokerOutage(t *testing.T, withSpool bool, outage time.Duration) {
	brokers := realBrokers(t)
	if os.Getenv("SILLAGE_TEST_KAFKA_SCRIPT") == "" {
		t.Skip("needs SILLAGE_TEST_KAFKA_SCRIPT (make test sets it) to stop and start the broker")
	}
	if v := os.Getenv("SILLAGE_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		outage = d
	}
	id := randomID(t)
	prefix := "sillage.outage" + id + "."
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	const writeKey = "outage-write-key-01"
	token := "outage-admin-token-" + id
	args := []string{"-target", "collector", "-kafka.brokers", strings.Join(brokers, ","),
		"-kafka.topic-prefix", prefix, "-kafka.partitions", "3", "-kafka.replication-factor", "1",
		"-data.dir", t.TempDir(), "-collector.source", "o:" + writeKey + ":*", "-admin.token", token,
		"-collector.produce-timeout", "2s", "-collector.spool.after", "1s"}
	if !withSpool {
		args = append(args, "-collector.spool.dir", "off")
	}
	p := startSillage(t, collectorAddr, adminAddr, args...)
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
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
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
					time.Sleep(50 * time.Millisecond) // e.g. the collector restarting
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
	start := time.Now()
	readyAnswers, notReady := 0, 0
	maxSpooled := 0.0
	killed := !withSpool
	ackedInOutage := count()
	for time.Since(start) < outage {
		if resp, err := http.Get("http://" + adminAddr + "/readyz"); err == nil {
			resp.Body.Close()
			readyAnswers++
			if resp.StatusCode == http.StatusServiceUnavailable {
				notReady++
			}
		}
		if withSpool {
			maxSpooled = max(maxSpooled, metricValueAuth(t, adminAddr, token, "sillage_collector_spool_events"))
		}
		if !killed && time.Since(start) > outage/2 {
			killed = true
			p.kill()
			t.Logf("collector killed with SIGKILL while spooling (%.0f events in its spool); restarting", maxSpooled)
			p = startSillage(t, collectorAddr, adminAddr, args...)
		}
		time.Sleep(250 * time.Millisecond)
	}
	ackedInOutage = count() - ackedInOutage
	kafkaNode(t, "start-node")
	restarted = true
	t.Logf("broker started again after %s", time.Since(start).Round(time.Millisecond))
	ackedBefore := count()
	require.Eventually(t, func() bool { return count() > ackedBefore+50 },
		90*time.Second, 200*time.Millisecond, "the collector accepts again once the broker is back")
	if withSpool {
		require.Eventually(t, func() bool { return metricValueAuth(t, adminAddr, token, "sillage_collector_spool_events") == 0 },
			90*time.Second, 250*time.Millisecond, "the spool is replayed once the broker is back")
	}
	t.Logf("caught up %s after the outage began", time.Since(start).Round(time.Millisecond))
	stop.Store(true)
	wg.Wait()
	p.stop(t)

	if withSpool {
		require.Positive(t, maxSpooled, "events went to the spool while the broker was down")
		require.Greater(t, ackedInOutage, 100, "requests were acknowledged during the outage")
		require.Zero(t, notReady, "/readyz stays ready while the spool has room")
		require.Zero(t, retry.Load(), "no 503 while the spool has room")
	} else {
		require.Positive(t, notReady, "/readyz fails while the broker is down")
		require.Positive(t, retry.Load(), "503 with Retry-After while the broker is down")
	}
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
	t.Logf("%d acknowledged (%d during the outage), %d answered 503 with Retry-After, %d other failures, %d on the raw topic, readyz %d/%d not ready",
		len(acked), ackedInOutage, retry.Load(), refused.Load(), len(seen), notReady, readyAnswers)
	require.Zero(t, missing, "acknowledged events missing from Kafka")
	require.Zero(t, twice, "events on the raw topic more than once")
}
