package replay_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/replay"
)

func TestSend_Failures(t *testing.T) {
	rows := readRows(t, 1000)
	for _, tc := range []struct {
		name         string
		status       int
		writeKey     string
		retryFor     time.Duration
		wantRequests int
		stops        bool // the collector is unavailable: the replay stops after the first exhausted batch
	}{
		{"bad request is not retried", http.StatusBadRequest, "sillage-demo", time.Minute, 10, false},
		{"unknown write key is not retried", 0, "nope", time.Minute, 10, false},
		{"retries exhausted", http.StatusServiceUnavailable, "sillage-demo", 30 * time.Millisecond, 0, true},
		{"no retry at all", http.StatusBadGateway, "sillage-demo", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, srv := newCollector(t)
			if tc.status != 0 {
				col.reject = func(w http.ResponseWriter, _ int, _ []map[string]any) bool {
					http.Error(w, `{"error":"no"}`, tc.status)
					return true
				}
			}
			cfg := testConfig(srv.URL)
			cfg.WriteKey = tc.writeKey
			cfg.RetryFor = tc.retryFor
			cfg.Concurrency = 3
			st, err := replay.Send(context.Background(), cfg, rows, nil)
			require.Zero(t, st.Acknowledged)
			require.Empty(t, col.events)
			if tc.stops {
				require.ErrorContains(t, err, "replay stopped after 0 of 1000 events were acknowledged")
				require.ErrorContains(t, err, "unavailable for")
				require.GreaterOrEqual(t, st.Failed, 100, "at least the exhausted batch")
				require.LessOrEqual(t, st.Sent, 300, "at most the batches in flight (concurrency 3) were sent")
				return
			}
			require.ErrorContains(t, err, "1000 of 1000 events were not acknowledged")
			require.Equal(t, 1000, st.Sent)
			require.Equal(t, 1000, st.Failed)
			if tc.wantRequests > 0 {
				require.Equal(t, tc.wantRequests, st.Requests)
				require.Zero(t, st.Retries)
			} else {
				require.Greater(t, st.Requests, 10)
			}
		})
	}
}

func TestSend_ConnectionRefused(t *testing.T) {
	_, srv := newCollector(t)
	srv.Close()
	cfg := testConfig(srv.URL)
	cfg.RetryFor = 20 * time.Millisecond
	st, err := replay.Send(context.Background(), cfg, readRows(t, 10), nil)
	require.ErrorContains(t, err, "unavailable for 20ms")
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, 10, st.Failed)
}

func TestSend_RateLimit(t *testing.T) {
	col, srv := newCollector(t)
	cfg := testConfig(srv.URL)
	cfg.Rate = 2000
	start := time.Now()
	st, err := replay.Send(context.Background(), cfg, readRows(t, 1000), nil)
	require.NoError(t, err)
	require.Equal(t, 1000, st.Acknowledged)
	require.Len(t, col.events, 1000)
	// A burst of one batch, then 900 events at 2,000/s.
	require.GreaterOrEqual(t, time.Since(start), 440*time.Millisecond)
}

func TestSend_Concurrency(t *testing.T) {
	col, srv := newCollector(t)
	col.delay = 20 * time.Millisecond
	cfg := testConfig(srv.URL)
	cfg.Concurrency = 4
	cfg.BatchSize = 25
	st, err := replay.Send(context.Background(), cfg, readRows(t, 1000), nil)
	require.NoError(t, err)
	require.Equal(t, 1000, st.Acknowledged)
	require.Len(t, col.events, 1000)
	require.LessOrEqual(t, col.maxFlight.Load(), int32(4))
	require.GreaterOrEqual(t, col.maxFlight.Load(), int32(2))
}

func TestSend_Cancel(t *testing.T) {
	rows := readRows(t, 1000)
	col, srv := newCollector(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := make(chan time.Time, 1)
	col.reject = func(w http.ResponseWriter, _ int, batch []map[string]any) bool {
		col.mu.Lock()
		n := len(col.events)
		col.mu.Unlock()
		if n >= 50 {
			select {
			case cancelled <- time.Now():
				cancel()
			default:
			}
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	cfg := testConfig(srv.URL)
	cfg.BatchSize = 10
	cfg.Concurrency = 2
	st, err := replay.Send(ctx, cfg, rows, nil)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.ErrorContains(t, err, "replay interrupted")
	require.Less(t, time.Since(<-cancelled), 5*time.Second, "returns promptly once cancelled")
	require.Positive(t, st.Acknowledged)
	require.Less(t, st.Acknowledged, 1000)
	require.Zero(t, st.Failed, "interrupted batches are not failures")
}

func TestSend_URLWithPath(t *testing.T) {
	col, srv := newCollector(t)
	st, err := replay.Send(context.Background(), testConfig(srv.URL+"/v1/batch/"), readRows(t, 5), nil)
	require.NoError(t, err)
	require.Equal(t, 5, st.Acknowledged)
	require.Len(t, col.events, 5)
}

func TestConfig_Validate(t *testing.T) {
	require.NoError(t, replay.DefaultConfig().Validate())
	for _, tc := range []struct {
		name string
		edit func(*replay.Config)
		want string
	}{
		{"url scheme", func(c *replay.Config) { c.URL = "ftp://x" }, "replay.url"},
		{"url host", func(c *replay.Config) { c.URL = "http://" }, "replay.url"},
		{"write key", func(c *replay.Config) { c.WriteKey = " " }, "replay.write_key"},
		{"file", func(c *replay.Config) { c.File = "" }, "replay.file"},
		{"batch size", func(c *replay.Config) { c.BatchSize = 0 }, "replay.batch_size"},
		{"batch too big", func(c *replay.Config) { c.BatchSize = 5000 }, "replay.batch_size"},
		{"concurrency", func(c *replay.Config) { c.Concurrency = 0 }, "replay.concurrency"},
		{"rate", func(c *replay.Config) { c.Rate = -1 }, "replay.rate"},
		{"timeout", func(c *replay.Config) { c.Timeout = 0 }, "replay.timeout"},
		{"retry", func(c *replay.Config) { c.RetryFor = -time.Second }, "replay.retry_for"},
		{"backoff", func(c *replay.Config) { c.MaxBackoff = time.Millisecond }, "replay.max_backoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := replay.DefaultConfig()
			tc.edit(&cfg)
			require.ErrorContains(t, cfg.Validate(), tc.want)
			_, err := replay.Run(context.Background(), cfg, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestConfig_Flags(t *testing.T) {
	cfg := replay.DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"-replay.url=http://collector:8080", "-replay.write-key=k", "-replay.file=f.csv",
		"-replay.batch-size=50", "-replay.concurrency=4", "-replay.rate=1000", "-replay.timeout=5s",
		"-replay.retry-for=1m", "-replay.min-backoff=50ms", "-replay.max-backoff=2s",
	}))
	require.Equal(t, replay.Config{
		URL: "http://collector:8080", WriteKey: "k", File: "f.csv", BatchSize: 50, Concurrency: 4, Rate: 1000,
		Timeout: 5 * time.Second, RetryFor: time.Minute, MinBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second,
	}, cfg)
	require.NoError(t, cfg.Validate())
}
