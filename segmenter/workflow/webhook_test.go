package workflow

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookServer is a webhook receiver that answers with the statuses given,
// one per request (the last repeats), and records what it received.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	reqs     []received
}

type received struct {
	header http.Header
	body   []byte
	path   string
}

func newHookServer(tb testing.TB, statuses ...int) *hookServer {
	tb.Helper()
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, received{header: r.Header.Clone(), body: body, path: r.URL.Path})
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status = h.statuses[min(len(h.reqs), len(h.statuses))-1]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
	}))
	tb.Cleanup(h.Close)
	return h
}

func (h *hookServer) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.reqs...)
}

func testSender() (*sender, *[]string) {
	var results []string
	var mu sync.Mutex
	return &sender{client: http.DefaultClient, backoffBase: time.Millisecond, backoffMax: 5 * time.Millisecond,
		onAttempt: func(_, r string) { mu.Lock(); results = append(results, r); mu.Unlock() }}, &results
}

func TestWebhookPost(t *testing.T) {
	cases := []struct {
		name       string
		statuses   []int
		attempts   int
		wantErr    string
		wantResult []string
	}{
		{"first try", []int{200}, 1, "", []string{"ok"}},
		{"retries 5xx then succeeds", []int{500, 503, 204}, 3, "", []string{"retry", "retry", "ok"}},
		{"retries 429 and 408", []int{429, 408, 200}, 3, "", []string{"retry", "retry", "ok"}},
		{"4xx is permanent", []int{400}, 1, "after 1 attempt(s): POST", []string{"failed"}},
		{"gives up after max attempts", []int{500}, 4, "after 4 attempt(s)", []string{"retry", "retry", "retry", "failed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newHookServer(t, c.statuses...)
			s, results := testSender()
			w := &Webhook{URL: srv.URL + "/hook", Secret: []byte("s3cret"), Timeout: time.Second, MaxAttempts: 4}
			body := []byte(`{"id":"t1"}`)
			n, err := s.post(context.Background(), w, "remind", 0, "t1", body)
			require.Equal(t, c.attempts, n)
			if c.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, c.wantErr)
			}
			require.Equal(t, c.wantResult, *results)
			reqs := srv.received()
			require.Len(t, reqs, c.attempts)
			for i, r := range reqs {
				require.Equal(t, body, r.body)
				require.True(t, Verify([]byte("s3cret"), r.body, r.header.Get(SignatureHeader)), "signature")
				require.False(t, Verify([]byte("wrong"), r.body, r.header.Get(SignatureHeader)))
				require.Equal(t, "t1", r.header.Get(IdempotencyKeyHeader))
				require.Equal(t, "remind", r.header.Get(WorkflowHeader))
				require.Equal(t, "0", r.header.Get(ActionHeader))
				require.Equal(t, strconv.Itoa(i+1), r.header.Get(AttemptHeader))
				require.Equal(t, "application/json", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestWebhookNetworkErrorAndTimeoutRetry(t *testing.T) {
	// A server that hangs past the attempt timeout.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	s, results := testSender()
	w := &Webhook{URL: slow.URL, Secret: []byte("k"), Timeout: 20 * time.Millisecond, MaxAttempts: 2}
	n, err := s.post(context.Background(), w, "wf", 0, "t", []byte("{}"))
	require.Equal(t, 2, n)
	require.ErrorContains(t, err, "deadline exceeded")
	require.Equal(t, []string{"retry", "failed"}, *results)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // connection refused
	s, _ = testSender()
	w = &Webhook{URL: closed.URL, Secret: []byte("k"), Timeout: time.Second, MaxAttempts: 3}
	n, err = s.post(context.Background(), w, "wf", 0, "t", []byte("{}"))
	require.Equal(t, 3, n)
	require.ErrorContains(t, err, "after 3 attempt(s)")
}

func TestWebhookStopsWhenContextEnds(t *testing.T) {
	srv := newHookServer(t, 500)
	s, _ := testSender()
	s.backoffBase, s.backoffMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		require.Eventually(t, func() bool { return len(srv.received()) == 1 }, 5*time.Second, time.Millisecond)
		cancel()
	}()
	_, err := s.post(ctx, &Webhook{URL: srv.URL, Secret: []byte("k"), Timeout: time.Second, MaxAttempts: 5}, "wf", 0, "t", []byte("{}"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestPayloadShape(t *testing.T) {
	var p map[string]any
	body, err := payload(&Workflow{Name: "remind"}, sampleTransition("t-1", "p-1", true))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &p))
	require.Equal(t, "t-1", p["id"])
	require.Equal(t, "remind", p["workflow"])
	require.Equal(t, "entered", p["transition"])
	require.Equal(t, "2019-10-01T00:30:00Z", p["event_time"])
	require.Equal(t, true, p["consent"].(map[string]any)["marketing"])
}
