package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
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
	byName    map[string]*Workflow
	send      *sender
	contacts  *contacts // nil unless a workflow sends e-mail
	runs      *runs     // nil unless a workflow has a re-entry policy, a cap or waits
	timers    bool      // some workflow waits: poll with a tick, resume due runs

	ownedMu sync.Mutex
	owned   map[int32]bool // membership partitions assigned
	m       *metrics
	ready   atomic.Bool
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
			onAttempt: func(k, r string) { m.attempts.WithLabelValues(k, r).Inc() }},
	}
	c.byName = map[string]*Workflow{}
	for _, wf := range wfs {
		c.byName[wf.Name] = wf
	}
	if NeedsContacts(wfs) {
		if deps.Topics.Enriched == "" {
			return nil, errors.New("workflow: e-mail and emit actions need Deps.Topics.Enriched (the contact directory's source)")
		}
		c.contacts = newContacts(kcfg, deps.Logger.With("component", "workflow-contacts"), deps.Serde, deps.Topics, c.Group(), now, m)
		c.contacts.ids = needsProfiles(wfs)
		if c.contacts.ids && deps.Topics.Raw == "" {
			return nil, errors.New("workflow: emit actions need Deps.Topics.Raw")
		}
	}
	if NeedsRuns(wfs) || cfg.MessageCap > 0 {
		c.runs = newRuns(kcfg, deps.Logger.With("component", "workflow-runs"))
		c.runs.waiting = m.waiting
		c.timers = slices.ContainsFunc(wfs, (*Workflow).waits)
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

// Ready reports whether the consumer has joined its group and is polling
// (and, with e-mail actions, the contact directory is restored and fed).
func (c *Consumer) Ready() bool {
	return c.ready.Load() && (c.contacts == nil || c.contacts.Ready())
}

// Run consumes until ctx is cancelled. Offsets are committed only for
// records whose actions all finished (done, refused for consent, or
// recorded as failed); an action interrupted by shutdown is retried from
// the start by whoever consumes the partition next.
func (c *Consumer) Run(ctx context.Context) error {
	contactsErr := make(chan error, 1)
	stopErr := func() error {
		select {
		case err := <-contactsErr:
			return err
		default:
			return nil
		}
	}
	if c.contacts != nil {
		// The directory is restored before any transition is handled: after
		// a restart, an e-mail due finds the address it would have found.
		// If it stops on an error, so does the consumer.
		parent := ctx
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(parent)
		done, err := c.contacts.start(ctx)
		if err != nil {
			cancel()
			return fmt.Errorf("workflow: %w", err)
		}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			if err := <-done; parent.Err() == nil {
				if err == nil {
					err = errors.New("stopped")
				}
				contactsErr <- fmt.Errorf("workflow: contact directory: %w", err)
			}
			cancel()
		}()
		defer func() { cancel(); <-stopped }()
	}
	if c.runs != nil {
		ctx, cancel := context.WithCancel(ctx)
		done, err := c.runs.start(ctx)
		defer func() { cancel(); <-done }()
		if err != nil {
			return fmt.Errorf("workflow: %w", err)
		}
	}
	c.owned = map[int32]bool{}
	own := func(ps map[string][]int32, on bool) {
		c.ownedMu.Lock()
		defer c.ownedMu.Unlock()
		for _, p := range ps[c.topics.Membership] {
			if on {
				c.owned[p] = true
			} else {
				delete(c.owned, p)
			}
		}
	}
	opts := append(c.kcfg.ProducerOpts("workflow"),
		kgo.ConsumerGroup(c.Group()),
		kgo.ConsumeTopics(c.topics.Membership),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own(ps, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own(ps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own(ps, false) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("workflow: kafka client: %w", err)
	}
	defer cl.Close()
	var owns func(pid string) bool
	if c.timers {
		if owns, err = c.ownership(ctx, cl); err != nil {
			return fmt.Errorf("workflow: %w", err)
		}
	}
	produce := func(ctx context.Context, r *kgo.Record) error { return cl.ProduceSync(ctx, r).FirstErr() }
	c.ready.Store(true)
	defer c.ready.Store(false)
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.timers {
			pctx, cancel = context.WithTimeout(ctx, timerTick)
		}
		fetches := cl.PollRecords(pctx, 500)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance()
			return stopErr()
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("fetching membership transitions", "topic", topic, "partition", p, "err", err)
			}
		})
		done, err := c.handleBatch(ctx, fetches, cl)
		if len(done) > 0 {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if cerr := cl.CommitRecords(cctx, done...); cerr != nil {
				c.log.Error("committing workflow offsets", "err", cerr) // the records run again: idempotency keys cover it
			}
			cancel()
		}
		if err == nil && c.timers {
			err = c.fireDue(ctx, owns, produce)
		}
		cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return stopErr()
			}
			return err
		}
	}
}

// timerTick bounds how late a due waiting run resumes when no transition
// arrives.
const timerTick = 250 * time.Millisecond

// ownership returns whether a profile's transitions are in a membership
// partition this consumer is assigned (partitioned by key as the segmenter
// produces them).
func (c *Consumer) ownership(ctx context.Context, cl *kgo.Client) (func(pid string) bool, error) {
	var n int
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		td, err := kadm.NewClient(cl).ListTopics(ctx, c.topics.Membership)
		if err == nil {
			if d, ok := td[c.topics.Membership]; ok && d.Err == nil && len(d.Partitions) > 0 {
				n = len(d.Partitions)
				break
			} else if ok && d.Err != nil {
				err = d.Err
			}
		}
		if serr := sleepCtx(ctx, wait); serr != nil {
			return nil, fmt.Errorf("partitions of %s: %v", c.topics.Membership, err)
		}
	}
	part := kgo.StickyKeyPartitioner(nil).ForTopic(c.topics.Membership)
	return func(pid string) bool {
		p := int32(part.Partition(&kgo.Record{Key: []byte(pid)}, n))
		c.ownedMu.Lock()
		defer c.ownedMu.Unlock()
		return c.owned[p]
	}, nil
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
	if c.runs != nil && fetches.NumRecords() > 0 {
		// Decide on everything the previous owners of these partitions wrote.
		if err := c.runs.catchUp(ctx); err != nil {
			return nil, fmt.Errorf("workflow: reading run history: %w", err)
		}
	}
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
	if c.timers {
		if err := c.exitPending(ctx, t); err != nil {
			return err
		}
		if err := c.arrivals(ctx, t); err != nil {
			return err
		}
	}
	for _, wf := range c.workflows {
		if wf.Segment != t.Segment || wf.On != t.Transition {
			continue
		}
		if wf.keepsRuns() && slices.ContainsFunc(wf.Actions, func(a Action) bool { return t.Consent.Get(a.Consent()) }) {
			// A run refused by consent for every action is no run.
			if reason := c.runs.decide(wf, t); reason != "" {
				c.m.runs.WithLabelValues(reason).Inc()
				c.log.Debug("workflow not run", "workflow", wf.Name, "transition", t.ID, "reason", reason)
				continue
			}
			if err := c.runs.record(ctx, wf, t); err != nil {
				return err
			}
		}
		c.m.runs.WithLabelValues("started").Inc()
		pend, err := c.runFrom(ctx, rec, t, wf, 0, t.Consent, false, produce)
		if err != nil {
			return err
		}
		if pend != nil {
			if err := c.addPending(ctx, t.ProfileID, pend); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Consumer) runAction(ctx context.Context, rec *kgo.Record, t *schemas.MembershipTransition, wf *Workflow, i int, a Action, produce func(context.Context, *kgo.Record) error) error {
	start := c.now()
	var (
		attempts int
		err      error
		what     string
	)
	switch {
	case a.Email != nil:
		var skip string
		attempts, skip, err = c.sendEmail(ctx, t, wf, i, a.Email)
		if skip != "" {
			c.m.actions.WithLabelValues(a.Kind(), skip).Inc()
			return nil
		}
		what = fmt.Sprintf("email via %s:%d", a.Email.SMTP.Host, a.Email.SMTP.Port)
	case a.Emit != nil:
		attempts, err = c.emitEvent(ctx, t, wf, i, a.Emit, produce)
		what = a.Emit.Type + " event to " + c.topics.Raw
	default:
		body, perr := payload(wf, t)
		if perr != nil {
			return fmt.Errorf("workflow %s: encoding payload: %w", wf.Name, perr)
		}
		attempts, err = c.send.post(ctx, a.Webhook, wf.Name, i, t.ID, body)
		what = "webhook " + a.Webhook.URL
	}
	c.m.seconds.WithLabelValues(a.Kind()).Observe(c.now().Sub(start).Seconds())
	switch {
	case err == nil:
		c.m.actions.WithLabelValues(a.Kind(), "done").Inc()
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	c.m.actions.WithLabelValues(a.Kind(), "failed").Inc()
	c.log.Warn("workflow action gave up", "workflow", wf.Name, "action", i, "kind", a.Kind(), "transition", t.ID, "attempts", attempts, "err", err)
	return c.recordFailure(ctx, rec, failureID(t.ID, wf.Name, strconv.Itoa(i)), a.Kind()+"_failed",
		fmt.Errorf("workflow %s, action %d (%s): %w", wf.Name, i, what, err), produce)
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
