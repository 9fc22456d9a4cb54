package workflow

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sillage/sillage/schemas"
)

// Header names of a webhook request.
const (
	SignatureHeader      = "X-Sillage-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	IdempotencyKeyHeader = "Idempotency-Key"     // the transition id
	WorkflowHeader       = "X-Sillage-Workflow"
	ActionHeader         = "X-Sillage-Action" // the action's index in the workflow: key + action is unique
	AttemptHeader        = "X-Sillage-Attempt"
)

// Payload is the JSON body of a webhook.
type Payload struct {
	ID           string          `json:"id"`
	Workflow     string          `json:"workflow"`
	Segment      string          `json:"segment"`
	ProfileID    string          `json:"profile_id"`
	Transition   string          `json:"transition"` // entered | exited
	CauseEventID string          `json:"cause_event_id,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	EventTime    time.Time       `json:"event_time"`
	EvaluatedAt  time.Time       `json:"evaluated_at"`
	Consent      schemas.Consent `json:"consent"`
}

// Sign returns the signature header value of body: "sha256=<hex>".
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value in constant time (for receivers
// and tests).
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}

// sender runs action attempts with retries.
type sender struct {
	client      *http.Client
	backoffBase time.Duration
	backoffMax  time.Duration
	onAttempt   func(kind, result string)
}

// errPermanent marks a failure that retrying cannot fix (a 4xx answer).
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// post delivers body to w, retrying 5xx answers, 408, 429 and network
// errors with exponential backoff (with jitter, honouring Retry-After up to
// the maximum backoff) until w.MaxAttempts. It returns the last error, or
// ctx's error if ctx ended first.
func (s *sender) post(ctx context.Context, w *Webhook, wfName string, action int, idemKey string, body []byte) (attempts int, err error) {
	sig := Sign(w.Secret, body)
	return s.retry(ctx, "webhook", w.MaxAttempts, func(attempt int) (time.Duration, error) {
		return s.attempt(ctx, w, wfName, action, idemKey, sig, body, attempt)
	})
}

// retry calls try until it succeeds, fails with errPermanent, or
// maxAttempts were made, waiting with exponential backoff in between (at
// least the wait try asked for, up to the maximum backoff). It returns the
// last error, or ctx's error if ctx ended first.
func (s *sender) retry(ctx context.Context, kind string, maxAttempts int, try func(attempt int) (time.Duration, error)) (attempts int, err error) {
	for attempt := 1; ; attempt++ {
		wait, err := try(attempt)
		if err == nil {
			s.onAttempt(kind, "ok")
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		var perm errPermanent
		if errors.As(err, &perm) || attempt >= maxAttempts {
			s.onAttempt(kind, "failed")
			return attempt, fmt.Errorf("after %d attempt(s): %w", attempt, err)
		}
		s.onAttempt(kind, "retry")
		backoff := s.backoff(attempt)
		if wait > backoff {
			backoff = min(wait, s.backoffMax)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is base·2^(attempt-1), capped, with ±20% jitter.
func (s *sender) backoff(attempt int) time.Duration {
	d := s.backoffBase << min(attempt-1, 30)
	if d <= 0 || d > s.backoffMax {
		d = s.backoffMax
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (s *sender) attempt(ctx context.Context, w *Webhook, wfName string, action int, idemKey, sig string, body []byte, attempt int) (retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errPermanent{fmt.Errorf("building request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sillage-workflow")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set(IdempotencyKeyHeader, idemKey)
	req.Header.Set(WorkflowHeader, wfName)
	req.Header.Set(ActionHeader, strconv.Itoa(action))
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		var ra time.Duration
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			ra = time.Duration(secs) * time.Second
		}
		return ra, fmt.Errorf("POST %s: %s: %s", w.URL, resp.Status, strings.TrimSpace(string(snippet)))
	default:
		return 0, errPermanent{fmt.Errorf("POST %s: %s: %s", w.URL, resp.Status, strings.TrimSpace(string(snippet)))}
	}
}

func payload(wf *Workflow, t *schemas.MembershipTransition) ([]byte, error) {
	return json.Marshal(Payload{
		ID:           t.ID,
		Workflow:     wf.Name,
		Segment:      t.Segment,
		ProfileID:    t.ProfileID,
		Transition:   strings.ToLower(string(t.Transition)),
		CauseEventID: t.CauseEventID,
		Reason:       t.Reason,
		EventTime:    time.UnixMilli(t.EventTime).UTC(),
		EvaluatedAt:  time.UnixMilli(t.EvaluatedAt).UTC(),
		Consent:      t.Consent,
	})
}
