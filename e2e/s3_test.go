//go:build integration

package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/internal/tests3"
	"github.com/sillage/sillage/sink"
)

// EnvS3Outage sets how long TestREES46ToS3WithOutage keeps the S3 server
// down (default 15s; the figure is 60s:
// SILLAGE_TEST_S3_OUTAGE=60s go test -tags integration -run TestREES46ToS3WithOutage ./e2e).
const EnvS3Outage = "SILLAGE_TEST_S3_OUTAGE"

// TestREES46ToS3WithOutage replays the REES46 sample through the binary
// (embedded broker) into a lake on a real S3 server (versitygw), stops the
// server for a while in the middle of the replay and starts it again. The
// sink must hold (not ready, store_up 0, nothing lost), then finish: the
// lake, read back from S3 through the sink's read side, holds the 17,434
// events exactly once with the right counts per type and revenue. Peak RSS
// and heap of the process are logged.
func TestREES46ToS3WithOutage(t *testing.T) {
	outage := 15 * time.Second
	if v := os.Getenv(EnvS3Outage); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, EnvS3Outage)
		outage = d
	}
	rows, err := replay.ReadCSV(reesFile)
	require.NoError(t, err)
	require.Len(t, rows, 17434)

	srv := tests3.Private(t) // private: this test stops and starts it
	bucket := srv.Bucket(t)
	root := srv.Root(bucket, "lake")

	defs := filepath.Join(t.TempDir(), "segments.yaml")
	require.NoError(t, os.WriteFile(defs, []byte(cartAbandonment10m), 0o644))
	broker := freeAddr(t)
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	// The credentials reach the process through the environment
	// (tests3 sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
	p := startSillage(t, collectorAddr, adminAddr, "-data.dir", t.TempDir(), "-embedded.broker-addr", broker,
		"-kafka.partitions", "4", "-segmenter.definitions", defs, "-sink.root", root,
		"-sink.max-age", "2s", "-sink.retry-max-backoff", "1s")
	require.Contains(t, p.Log(), "s3://"+bucket+"/lake", "the sink names its S3 lake")

	// Memory of the process, sampled all along.
	// Phases: 0 before the outage, 1 during, 2 after.
	var memMu sync.Mutex
	var phase int
	var peakRSS, peakHeap [3]float64
	sampleStop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			rss := metricValue(t, adminAddr, "process_resident_memory_bytes")
			heap := metricValue(t, adminAddr, "go_memstats_heap_inuse_bytes")
			memMu.Lock()
			peakRSS[phase], peakHeap[phase] = max(peakRSS[phase], rss), max(peakHeap[phase], heap)
			memMu.Unlock()
			select {
			case <-sampleStop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()

	cfg := replay.DefaultConfig()
	cfg.URL = "http://" + collectorAddr
	cfg.Concurrency = 2
	cfg.RetryFor = 3 * time.Minute
	cfg.Timeout = 10 * time.Second
	type result struct {
		st  replay.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := replay.Send(context.Background(), cfg, rows, slog.New(slog.DiscardHandler))
		done <- result{st, err}
	}()

	// Stop the object store once the lake has started to fill.
	require.Eventually(t, func() bool {
		return metricValue(t, adminAddr, `sillage_sink_rows_written_total{table="events"}`) >= 2000
	}, 3*time.Minute, 50*time.Millisecond)
	srv.Stop(t)
	memMu.Lock()
	phase = 1
	memMu.Unlock()
	stoppedAt := time.Now()
	t.Logf("S3 server stopped for %s at %v event rows written", outage,
		metricValue(t, adminAddr, `sillage_sink_rows_written_total{table="events"}`))

	// Meanwhile: /readyz says the lake is not ready, store_up is 0, and no
	// row is reported written.
	require.Eventually(t, func() bool {
		return metricValue(t, adminAddr, "sillage_sink_store_up") == 0
	}, outage, 100*time.Millisecond, "the sink notices the outage")
	code, body := readyz(t, adminAddr)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"lake":false`)
	written := metricValue(t, adminAddr, `sillage_sink_rows_written_total{table="events"}`)
	time.Sleep(time.Until(stoppedAt.Add(outage)))
	require.Equal(t, written, metricValue(t, adminAddr, `sillage_sink_rows_written_total{table="events"}`),
		"nothing written while the store is down")
	errorsDuringOutage := metricValue(t, adminAddr, "sillage_sink_write_errors_total")
	require.Positive(t, errorsDuringOutage)
	select {
	case <-p.done:
		t.Fatalf("sillage exited during the outage:\n%s", p.Log())
	default:
	}
	srv.Start(t)
	memMu.Lock()
	phase = 2
	memMu.Unlock()
	t.Logf("S3 server started again after %s (%v failed store operations meanwhile)", time.Since(stoppedAt).Round(time.Second), errorsDuringOutage)

	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("replay did not finish")
	}
	require.NoError(t, res.err)
	require.Equal(t, 17434, res.st.Acknowledged)
	require.Zero(t, res.st.Failed)

	// The lake, read back from S3.
	store, err := sink.OpenStore(root)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n, err := sink.CountRows(context.Background(), store, sink.TableEvents)
		return err == nil && n >= 17434
	}, 3*time.Minute, 500*time.Millisecond, "lake should reach 17,434 event rows")
	code, body = readyz(t, adminAddr)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 1.0, metricValue(t, adminAddr, "sillage_sink_store_up"))

	n, err := sink.CountRows(context.Background(), store, sink.TableEvents)
	require.NoError(t, err)
	require.Equal(t, int64(17434), n)
	events, err := sink.ReadTable[sink.EventRow](context.Background(), store, sink.TableEvents)
	require.NoError(t, err)
	seen := map[string]int{}
	byName := map[string]int{}
	var revenueCents int64
	for _, e := range events {
		seen[e.EventID]++
		byName[e.Event]++
		if e.Event == "Order Completed" {
			require.NotNil(t, e.Revenue, "order %s without revenue", e.EventID)
			revenueCents += int64(*e.Revenue*100 + 0.5)
		}
	}
	for _, r := range rows {
		require.Equal(t, 1, seen[r.MessageID], "row on line %d in the lake once", r.Line)
	}
	require.Len(t, events, 17434)
	require.Equal(t, map[string]int{"Product Viewed": 17055, "Product Added": 165, "Order Completed": 214}, byName)
	require.Equal(t, int64(5944263), revenueCents, "revenue of the purchases: 59,442.63")
	files, err := sink.Files(context.Background(), store, sink.TableEvents)
	require.NoError(t, err)
	for _, f := range files {
		require.True(t, strings.HasPrefix(f.Key, "events/dt=2019-10-01/hr="), f.Key)
	}
	// DuckDB on the very objects of the bucket: every object under events/
	// (not only those the sink's reader picks), fetched byte for byte into
	// a folder, read by `sillage lake query` with a plain glob — what
	// DuckDB's httpfs would read from the bucket (it cannot be installed
	// here: extensions are downloads).
	copyDir := t.TempDir()
	objs, err := store.List(context.Background(), "events/")
	require.NoError(t, err)
	for _, o := range objs {
		rc, err := store.Get(context.Background(), o.Key)
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		require.Len(t, data, int(o.Size), o.Key)
		dst := filepath.Join(copyDir, "lake", filepath.FromSlash(o.Key))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, data, 0o644))
	}
	checkLakeQuery(t, copyDir)
	close(sampleStop)
	<-sampled
	hwm := vmHWM(t, p.cmd.Process.Pid)
	memMu.Lock()
	const mib = 1 << 20
	t.Logf("lake on S3: %d event rows in %d files; process VmHWM %.1f MiB; peak RSS / Go heap in use before the outage %.1f / %.1f MiB, during %.1f / %.1f MiB, after %.1f / %.1f MiB",
		n, len(files), hwm/mib, peakRSS[0]/mib, peakHeap[0]/mib, peakRSS[1]/mib, peakHeap[1]/mib, peakRSS[2]/mib, peakHeap[2]/mib)
	memMu.Unlock()
	p.stop(t)
}

func readyz(t testing.TB, adminAddr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// vmHWM returns the peak resident set size of a process (bytes).
func vmHWM(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			require.NoError(t, err)
			return kb * 1024
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// TestS3LakeStartupErrors: a bad lake URL or a missing bucket stops the
// binary at start with an error naming what is wrong.
func TestS3LakeStartupErrors(t *testing.T) {
	srv := tests3.Shared(t)
	bin := sillageBinary(t)
	for _, tc := range []struct{ root, want string }{
		{"s3:///lake?endpoint=" + srv.Endpoint, "no bucket"},
		{"s3://bucket/lake?endpoint=localhost:9000", `want http://host[:port]`},
		{srv.Root("sillage-no-such-bucket", "lake"), `S3 bucket "sillage-no-such-bucket" does not exist at ` + srv.Endpoint},
		{"s3://sillage-test/lake?endpoint=http://127.0.0.1:1&path_style=true", `S3 bucket "sillage-test" at http://127.0.0.1:1 is not reachable`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "-data.dir", t.TempDir(), "-embedded.broker-addr", freeAddr(t),
			"-collector.addr", freeAddr(t), "-admin.addr", freeAddr(t), "-sink.root", tc.root)
		out, err := cmd.CombinedOutput()
		cancel()
		require.Error(t, err, "sillage must not start with -sink.root=%s:\n%s", tc.root, out)
		require.NotErrorIs(t, ctx.Err(), context.DeadlineExceeded, "sillage did not exit:\n%s", out)
		// The text log quotes the error: unescape its quotes.
		require.Contains(t, strings.ReplaceAll(string(out), `\"`, `"`), tc.want, tc.root)
	}
}
