package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type result struct {
	err        error
	retry      bool          // the error is worth another try
	retryAfter time.Duration // the server's Retry-After, if any
}

// post makes one /v1/batch request.
func (s *sender) post(ctx context.Context, b []event) result {
	now := ""
	if s.cfg.SentAt {
		now = time.Now().UTC().Format(time.RFC3339Nano)
	}
	for i := range b {
		b[i].SentAt = now
	}
	body, err := json.Marshal(batchBody{Batch: b, SentAt: now})
	if err != nil {
		return result{err: fmt.Errorf("encoding batch: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sillage-replay/1")
	req.SetBasicAuth(s.cfg.WriteKey, "")
	resp, err := s.client.Do(req)
	if err != nil {
		// Connection refused or reset, timeout: the batch may or may not
		// have arrived; resending it is safe, its messageIds are unchanged.
		return result{err: fmt.Errorf("posting batch: %w", err), retry: true}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return result{}
	}
	err = fmt.Errorf("collector answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return result{err: err, retry: true, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	default:
		return result{err: err}
	}
}

// parseRetryAfter reads a Retry-After header in seconds; dates and junk
// count as absent.
func parseRetryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}
