package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

// Deps are what the workflow consumer is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Serde      *schemas.Serde
	Topics     kafka.Topics
	// Definitions are the loaded definitions file (segmenter.LoadDefinitions).
	Definitions *segmenter.Definitions
	// HTTPClient sends webhooks (nil: a client with sane transport limits;
	// each attempt's timeout comes from the action).
	HTTPClient *http.Client
	// Clock returns the wall-clock time (nil: time.Now).
	Clock func() time.Time
}

// Consumer reads the membership topic (read_committed) and runs the
// workflows each transition triggers.
type Consumer struct {
	kcfg      kafka.Config
	cfg       Config
	log       *slog.Logger
	serde     *schemas.Serde
	topics    kafka.Topics
	now       func() time.Time
	workflows []*Workflow
	send      *sender
	m         *metrics
	ready     atomic.Bool
}

// New validates the config and the workflows of the definitions.
func New(kcfg kafka.Config, cfg Config, deps Deps) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil || deps.Registerer == nil || deps.Serde == nil || deps.Definitions == nil {
		return nil, errors.New("workflow: Deps.Logger, Registerer, Serde and Definitions are required")
	}
	if deps.Topics.Membership == "" || deps.Topics.Failed == "" {
		return nil, errors.New("workflow: Deps.Topics needs the membership and failed topics")
	}
	wfs, err := Parse(deps.Definitions)
	if err != nil {
		return nil, fmt.Errorf("definitions %s: %w", deps.Definitions.Source, err)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("workflow: registering metrics: %w", err)
	}
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 0,
		}}
	}
	now := deps.Clock
	if now == nil {
		now = time.Now
	}
	c := &Consumer{
		kcfg: kcfg, cfg: cfg, log: deps.Logger, serde: deps.Serde, topics: deps.Topics, now: now, workflows: wfs, m: m,
		send: &sender{client: client, backoffBase: cfg.BackoffBase, backoffMax: cfg.BackoffMax,
			onAttempt: func(r string) { m.attempts.WithLabelValues("webhook", r).Inc() }},
	}
	deps.Logger.Info("workflows loaded", "source", deps.Definitions.Source, "workflows", len(wfs))
	return c, nil
}

// Group returns the consumer group name.
func (c *Consumer) Group() string {
	if c.cfg.Group != "" {
		return c.cfg.Group
	}
	return c.kcfg.TopicPrefix + "workflow"
}

// Workflows returns the validated workflows.
func (c *Consumer) Workflows() []*Workflow { return c.workflows }

// Ready reports whether the consumer has joined its group and is polling.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Run consumes until ctx is cancelled. Offsets are committed only for
// records whose actions all finished (done, refused for consent, or
// recorded as failed); an action interrupted by shutdown is retried from
// the start by whoever consumes the partition next.
func (c *Consumer) Run(ctx context.Context) error {
	opts := append(c.kcfg.ProducerOpts("workflow"),
		kgo.ConsumerGroup(c.Group()),
		kgo.ConsumeTopics(c.topics.Membership),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("workflow: kafka client: %w", err)
	}
	defer cl.Close()
	c.ready.Store(true)
	defer c.ready.Store(false)
	for {
		fetches := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("fetching membership transitions", "topic", topic, "partition", p, "err", err)
		})
		done, err := c.handleBatch(ctx, fetches, cl)
		if len(done) > 0 {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if cerr := cl.CommitRecords(cctx, done...); cerr != nil {
				c.log.Error("committing workflow offsets", "err", cerr) // the records run again: idempotency keys cover it
			}
			cancel()
		}
		cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// handleBatch runs each partition's records in order, partitions in
// parallel up to Concurrency, and returns the records fully handled (a
// prefix per partition).
func (c *Consumer) handleBatch(ctx context.Context, fetches kgo.Fetches, cl *kgo.Client) ([]*kgo.Record, error) {
	var (
		mu   sync.Mutex
		done []*kgo.Record
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, c.cfg.Concurrency)
	)
	produce := func(ctx context.Context, r *kgo.Record) error { return cl.ProduceSync(ctx, r).FirstErr() }
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var last *kgo.Record
			for _, r := range p.Records {
				if err := c.handle(ctx, r, produce); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					break
				}
				last = r
			}
			if last != nil {
				mu.Lock()
				done = append(done, last)
				mu.Unlock()
			}
		}()
	})
	wg.Wait()
	return done, errors.Join(errs...)
}

// handle runs the workflows one record triggers. It returns an error only
// when the record must not be committed: ctx ended, or a failed record
// could not be produced.
func (c *Consumer) handle(ctx context.Context, rec *kgo.Record, produce func(context.Context, *kgo.Record) error) error {
	c.m.in.Inc()
	t, err := c.serde.DecodeMembership(ctx, rec.Value)
	if err != nil {
		c.m.actions.WithLabelValues("decode", "failed").Inc()
		return c.recordFailure(ctx, rec, "", "undecodable", err, produce)
	}
	for _, wf := range c.workflows {
		if wf.Segment != t.Segment || wf.On != t.Transition {
			continue
		}
		for i, a := range wf.Actions {
			if !t.Consent.Get(a.Webhook.Consent) {
				c.m.actions.WithLabelValues(a.Kind(), "no_consent").Inc()
				continue
			}
			if err := c.runAction(ctx, rec, t, wf, i, a, produce); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Consumer) runAction(ctx context.Context, rec *kgo.Record, t *schemas.MembershipTransition, wf *Workflow, i int, a Action, produce func(context.Context, *kgo.Record) error) error {
	body, err := payload(wf, t)
	if err != nil {
		return fmt.Errorf("workflow %s: encoding payload: %w", wf.Name, err)
	}
	start := c.now()
	attempts, err := c.send.post(ctx, a.Webhook, wf.Name, t.ID, body)
	c.m.seconds.WithLabelValues(a.Kind()).Observe(c.now().Sub(start).Seconds())
	switch {
	case err == nil:
		c.m.actions.WithLabelValues(a.Kind(), "done").Inc()
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	c.m.actions.WithLabelValues(a.Kind(), "failed").Inc()
	c.log.Warn("workflow action gave up", "workflow", wf.Name, "action", i, "transition", t.ID, "attempts", attempts, "err", err)
	return c.recordFailure(ctx, rec, failureID(t.ID, wf.Name, strconv.Itoa(i)), "webhook_failed",
		fmt.Errorf("workflow %s, action %d (webhook %s): %w", wf.Name, i, a.Webhook.URL, err), produce)
}

// recordFailure produces a FailedEvent (stage "workflow") and waits for it.
func (c *Consumer) recordFailure(ctx context.Context, rec *kgo.Record, id, reason string, cause error, produce func(context.Context, *kgo.Record) error) error {
	if id == "" {
		id = failureID(rec.Topic, strconv.Itoa(int(rec.Partition)), strconv.FormatInt(rec.Offset, 10))
	}
	f := schemas.FailedEvent{
		ID: id, Stage: "workflow", Reason: reason, Detail: cause.Error(),
		SourceTopic: rec.Topic, SourcePartition: rec.Partition, SourceOffset: rec.Offset,
		Payload: rec.Value, FailedAt: c.now().UnixMilli(),
	}
	if t, err := c.serde.DecodeMembership(ctx, rec.Value); err == nil {
		f.EventID = t.ID
	}
	val, err := c.serde.Encode(schemas.KindFailed, &f, nil)
	if err != nil {
		return fmt.Errorf("encoding failed record: %w", err)
	}
	// The action has finished: record it even if shutdown began meanwhile.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := produce(pctx, &kgo.Record{Topic: c.topics.Failed, Key: rec.Key, Value: val}); err != nil {
		return fmt.Errorf("producing failed record for %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
}

// failureID is the deterministic id of a failed record.
func failureID(parts ...string) string {
	h := sha256.New()
	h.Write([]byte("workflow"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
