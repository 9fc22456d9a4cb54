package replay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Stats counts events, not requests, except Requests and Retries.
type Stats struct {
	Rows         int // rows read
	Sent         int // events posted at least once
	Acknowledged int // events in a batch the collector answered 2xx
	Failed       int // events in a batch given up on (4xx, or retries exhausted)
	Requests     int // HTTP requests made
	Retries      int // requests that repeated an earlier one
}

// Run reads cfg.File and replays it; see Send.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	rows, err := ReadCSV(cfg.File)
	if err != nil {
		return Stats{}, err
	}
	return Send(ctx, cfg, rows, logger)
}

// Send posts rows to the collector in batches of cfg.BatchSize, in order,
// with cfg.Concurrency requests in flight. It returns when every batch was
// acknowledged or given up on, or when ctx ends (batches not yet sent are
// then neither sent nor failed). The error says how many events were not
// acknowledged.
func Send(ctx context.Context, cfg Config, rows []Row, logger *slog.Logger) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A batch whose retries are exhausted stops the whole replay: the
	// collector has been unavailable for RetryFor, and retrying every later
	// batch for as long again would run for hours.
	parent := ctx
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	defer transport.CloseIdleConnections()
	s := &sender{
		cfg:    cfg,
		url:    cfg.endpoint(),
		client: &http.Client{Transport: transport, Timeout: cfg.Timeout},
		log:    logger,
		abort:  abort,
	}

	batches := make(chan []event)
	var wg sync.WaitGroup
	for i := 0; i < cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				s.send(ctx, b)
			}
		}()
	}

	start := time.Now()
	logger.Info("replay starting", "rows", len(rows), "url", s.url, "batch_size", cfg.BatchSize, "concurrency", cfg.Concurrency, "rate", cfg.Rate)
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.BatchSize)
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
dispatch:
	for lo := 0; lo < len(rows); lo += cfg.BatchSize {
		hi := min(lo+cfg.BatchSize, len(rows))
		if limiter != nil {
			if err := limiter.WaitN(ctx, hi-lo); err != nil {
				break // ctx ended, or it would end before the wait does
			}
		}
		b := make([]event, 0, hi-lo)
		for _, r := range rows[lo:hi] {
			b = append(b, toEvent(r))
		}
		for {
			select {
			case batches <- b:
				continue dispatch
			case <-progress.C:
				logger.Info("replay progress", "acknowledged", s.acked.Load(), "failed", s.failed.Load(), "rows", len(rows))
			case <-ctx.Done():
				break dispatch
			}
		}
	}
	close(batches)
	wg.Wait()

	st := Stats{
		Rows:         len(rows),
		Sent:         int(s.sent.Load()),
		Acknowledged: int(s.acked.Load()),
		Failed:       int(s.failed.Load()),
		Requests:     int(s.requests.Load()),
		Retries:      int(s.retries.Load()),
	}
	logger.Info("replay done", "rows", st.Rows, "sent", st.Sent, "acknowledged", st.Acknowledged, "failed", st.Failed,
		"requests", st.Requests, "retries", st.Retries, "seconds", time.Since(start).Seconds())
	if cause := context.Cause(ctx); cause != nil && parent.Err() == nil && st.Acknowledged < st.Rows {
		return st, fmt.Errorf("replay stopped after %d of %d events were acknowledged: %w", st.Acknowledged, st.Rows, cause)
	}
	if err := ctx.Err(); err != nil && st.Acknowledged+st.Failed < st.Rows {
		return st, fmt.Errorf("replay interrupted after %d of %d events were acknowledged: %w", st.Acknowledged, st.Rows, err)
	}
	if st.Acknowledged < st.Rows {
		return st, fmt.Errorf("replay: %d of %d events were not acknowledged by %s", st.Rows-st.Acknowledged, st.Rows, s.url)
	}
	return st, nil
}

type sender struct {
	abort  context.CancelCauseFunc
	cfg    Config
	url    string
	client *http.Client
	log    *slog.Logger

	sent, acked, failed, requests, retries atomic.Int64
}

type batchBody struct {
	Batch  []event `json:"batch"`
	SentAt string  `json:"sentAt,omitempty"`
}

// send posts one batch until it is acknowledged, refused for good, out of
// retry time, or ctx ends. Every try carries the same messageIds.
func (s *sender) send(ctx context.Context, b []event) {
	n := int64(len(b))
	first := time.Now()
	backoff := s.cfg.MinBackoff
	for try := 0; ; try++ {
		if try == 0 {
			s.sent.Add(n)
		} else {
			s.retries.Add(1)
		}
		s.requests.Add(1)
		res := s.post(ctx, b)
		switch {
		case res.err == nil:
			s.acked.Add(n)
			return
		case ctx.Err() != nil:
			return // neither acknowledged nor failed: the caller stopped us
		case !res.retry:
			s.failed.Add(n)
			s.log.Error("replay batch refused", "first_message_id", b[0].MessageID, "events", n, "err", res.err)
			return
		}
		wait := jitter(backoff)
		if res.retryAfter > wait {
			wait = min(res.retryAfter, 30*time.Second)
		}
		if time.Since(first)+wait > s.cfg.RetryFor {
			s.failed.Add(n)
			s.log.Error("replay batch failed, retries exhausted", "first_message_id", b[0].MessageID, "events", n, "tries", try+1, "err", res.err)
			s.abort(fmt.Errorf("collector at %s unavailable for %s (last error: %w)", s.url, s.cfg.RetryFor, res.err))
			return
		}
		s.log.Warn("replay batch will be retried", "first_message_id", b[0].MessageID, "try", try+1, "wait", wait, "err", res.err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}
