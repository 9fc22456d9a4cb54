package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sillage/sillage/internal/kafka"
)

// Group and transaction timeouts. While the group rebalances, the client
// holds back offset commits until its join and sync are done, and a join
// lasts until every member has rejoined: up to the session timeout when a
// member died (its SIGKILL is only noticed then), up to the rebalance
// timeout for a live but slow one. A transaction whose offsets wait there
// must not time out meanwhile: the coordinator would abort it and bump the
// producer epoch, the offset commit would fail with INVALID_PRODUCER_EPOCH
// and the surviving instance would stop too. So the transaction timeout
// exceeds the rebalance timeout (which is at least the session timeout) by
// a margin for the batch's own produce and commit. The cost: after a crash,
// the dead instance's open transaction holds back read_committed readers
// of the topics it wrote to until its replacement fences it or the
// transaction timeout passes.
const (
	sessionTimeout     = 45 * time.Second
	rebalanceTimeout   = 60 * time.Second
	transactionTimeout = rebalanceTimeout + 30*time.Second
)

// Runner consumes the input topics of one stage in a consumer group and
// drives its tasks. Create it with New and call Run once.
type Runner struct {
	kcfg    kafka.Config
	cfg     Config
	factory TaskFactory
	log     *slog.Logger
	m       *metrics

	sess *kgo.GroupTransactSession // transactional mode
	cl   *kgo.Client               // the consuming (and producing) client in both modes

	mu       sync.Mutex
	tasks    map[TopicPartition]*taskState
	assigned map[TopicPartition]bool // assigned but task not created yet
	ready    atomic.Bool
	fatal    error // set by callbacks, returned by Run
}

type taskState struct {
	task      Task
	stores    map[string]*Store
	committed int64 // durable mode: last committed offset
}

// New builds a runner. It does not contact Kafka; Run does.
func New(kcfg kafka.Config, cfg Config, factory TaskFactory, deps Deps) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if factory == nil {
		return nil, errors.New("stream: a TaskFactory is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	r := &Runner{
		kcfg:     kcfg,
		cfg:      cfg,
		factory:  factory,
		log:      deps.Logger.With("stage", cfg.Name),
		tasks:    map[TopicPartition]*taskState{},
		assigned: map[TopicPartition]bool{},
	}
	m, err := newMetrics(deps.Registerer, cfg.Name)
	if err != nil {
		return nil, err
	}
	r.m = m
	return r, nil
}

// Ready reports whether the runner has joined its group and is processing.
func (r *Runner) Ready() bool { return r.ready.Load() }

// transactionTimeout is how long the coordinator lets a transaction stay
// open. With a sole writer (the embedded broker, one process, so no peer
// whose death a rebalance waits for) it is short: a transaction left open
// by a crash then stops holding back read_committed readers of the output
// topics within seconds of the restart instead of a minute and a half.
func (r *Runner) transactionTimeout() time.Duration {
	if r.kcfg.SoleWriter {
		return soleWriterTransactionTimeout
	}
	return transactionTimeout
}

const soleWriterTransactionTimeout = 20 * time.Second

// sessionTimeout is the Kafka config's group session timeout, else the default.
func (r *Runner) sessionTimeout() time.Duration {
	if r.kcfg.SessionTimeout > 0 {
		return r.kcfg.SessionTimeout
	}
	return sessionTimeout
}

func (r *Runner) group() string { return r.kcfg.TopicPrefix + r.cfg.Name }

func (r *Runner) changelogs() []string {
	out := make([]string, len(r.cfg.Stores))
	for i, s := range r.cfg.Stores {
		out[i] = r.kcfg.Changelog(r.cfg.Name, s)
	}
	return out
}

func (r *Runner) clientOpts() []kgo.Opt {
	changelogs := map[string]bool{}
	for _, c := range r.changelogs() {
		changelogs[c] = true
	}
	opts := append(r.kcfg.ProducerOpts(r.cfg.Name),
		kgo.ConsumerGroup(r.group()),
		kgo.SessionTimeout(r.sessionTimeout()),
		kgo.RebalanceTimeout(rebalanceTimeout),
		kgo.ConsumeTopics(r.cfg.Topics...),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(partitioner{manual: changelogs}),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
	)
	if r.cfg.Transactional {
		id := r.cfg.InstanceID
		if id == "" {
			id = "0"
		}
		opts = append(opts,
			kgo.TransactionalID(r.group()+"-"+id),
			kgo.TransactionTimeout(r.transactionTimeout()),
		)
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	return opts
}

// Run joins the group and processes until ctx is cancelled or a task fails.
// On return every task has been flushed (durable mode) and closed, and the
// group has been left.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.Transactional {
		sess, err := kgo.NewGroupTransactSession(r.clientOpts()...)
		if err != nil {
			return fmt.Errorf("%s: creating transactional client: %w", r.cfg.Name, err)
		}
		r.sess, r.cl = sess, sess.Client()
	} else {
		cl, err := kgo.NewClient(r.clientOpts()...)
		if err != nil {
			return fmt.Errorf("%s: creating client: %w", r.cfg.Name, err)
		}
		r.cl = cl
	}
	if len(r.cfg.Stores) > 0 {
		var specs []kafka.TopicSpec
		for _, s := range r.cfg.Stores {
			specs = append(specs, r.kcfg.ChangelogSpec(r.cfg.Name, s))
		}
		if err := kafka.EnsureTopics(ctx, r.cl, r.kcfg.ReplicationFactor, r.kcfg.CreateTopics, specs...); err != nil {
			r.closeClient()
			return fmt.Errorf("%s: changelog topics: %w", r.cfg.Name, err)
		}
	}
	if r.cfg.Transactional {
		// Fence the previous incarnation of this instance (the same
		// transactional id) before restoring anything: the coordinator
		// aborts its open transaction and writes the markers that restore
		// waits for, instead of letting it linger until its timeout.
		if _, _, err := r.cl.ProducerID(ctx); err != nil {
			r.closeClient()
			return fmt.Errorf("%s: initialising the transactional producer: %w", r.cfg.Name, err)
		}
	}
	err := r.loop(ctx)
	r.ready.Store(false)
	if err != nil {
		r.log.Error("stage stopping on error", "err", err)
	}
	r.shutdown(err == nil)
	return err
}

// closeClient leaves the group and closes the client. The loop may have
// stopped between a poll and AllowRebalance, so rebalancing is allowed
// first (with BlockRebalanceOnPoll, leaving the group would wait forever).
func (r *Runner) closeClient() {
	if r.sess != nil {
		r.sess.CloseAllowingRebalance()
	} else if r.cl != nil {
		r.cl.CloseAllowingRebalance()
	}
}

func (r *Runner) loop(ctx context.Context) error {
	out := &Output{}
	for {
		pollCtx, cancel := context.WithTimeout(ctx, r.cfg.TickInterval)
		fetches := r.cl.PollRecords(pollCtx, r.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil {
			r.cl.AllowRebalance()
			return nil
		}
		if fetches.IsClientClosed() {
			return errors.New(r.cfg.Name + ": client closed")
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			r.m.fetchErrors.Inc()
			r.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		if err := r.takeFatal(); err != nil {
			return err
		}
		if err := r.createTasks(ctx); err != nil {
			return err
		}
		r.ready.Store(true)
		var err error
		if r.cfg.Transactional {
			err = r.processTxn(ctx, fetches, out)
		} else {
			err = r.processDurable(ctx, fetches, out)
		}
		r.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (r *Runner) takeFatal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

// process feeds the polled records and a tick to the tasks.
func (r *Runner) process(ctx context.Context, fetches kgo.Fetches, out *Output) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	var err error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil || len(p.Records) == 0 {
			return
		}
		ts := r.tasks[TopicPartition{p.Topic, p.Partition}]
		if ts == nil {
			err = fmt.Errorf("%s: records for %s/%d without a task", r.cfg.Name, p.Topic, p.Partition)
			return
		}
		for _, rec := range p.Records {
			if e := ts.task.Process(ctx, rec, out); e != nil {
				err = fmt.Errorf("%s: processing %s/%d@%d: %w", r.cfg.Name, rec.Topic, rec.Partition, rec.Offset, e)
				return
			}
		}
		n += len(p.Records)
	})
	if err != nil {
		return n, err
	}
	now := time.Now()
	for tp, ts := range r.tasks {
		if e := ts.task.Tick(ctx, now, out); e != nil {
			return n, fmt.Errorf("%s: tick of %s/%d: %w", r.cfg.Name, tp.Topic, tp.Partition, e)
		}
	}
	r.m.recordsIn.Add(float64(n))
	return n, nil
}

func (r *Runner) pendingChangelog() []*kgo.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var recs []*kgo.Record
	for _, ts := range r.tasks {
		for _, s := range ts.stores {
			recs = append(recs, s.takePending()...)
		}
	}
	return recs
}

func (r *Runner) processTxn(ctx context.Context, fetches kgo.Fetches, out *Output) error {
	out.reset()
	start := time.Now()
	n, err := r.process(ctx, fetches, out)
	if err != nil {
		return err
	}
	changelog := r.pendingChangelog()
	if n == 0 && out.Len() == 0 && len(changelog) == 0 {
		return nil
	}
	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("%s: beginning transaction: %w", r.cfg.Name, err)
	}
	var produceErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			produceErr.CompareAndSwap(nil, err)
		}
	}
	for _, rec := range out.records {
		r.sess.Produce(ctx, rec, promise)
	}
	for _, rec := range changelog {
		r.sess.Produce(ctx, rec, promise)
	}
	try := kgo.TryCommit
	if produceErr.Load() != nil {
		try = kgo.TryAbort
	}
	committed, err := r.sess.End(ctx, try)
	if pe, _ := produceErr.Load().(error); pe != nil && err == nil {
		err = fmt.Errorf("%s: producing: %w", r.cfg.Name, pe)
	}
	if err != nil {
		return fmt.Errorf("%s: ending transaction: %w", r.cfg.Name, err)
	}
	if !committed {
		// The session rewound the consumer to the committed offsets; rewind
		// the in-memory state the same way by rebuilding every task from its
		// changelog, which holds only committed writes.
		r.m.aborts.Inc()
		r.log.Info("transaction aborted; rebuilding tasks from changelogs")
		return r.rebuildAll(ctx)
	}
	r.m.recordsOut.Add(float64(out.Len()))
	r.m.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func (r *Runner) processDurable(ctx context.Context, fetches kgo.Fetches, out *Output) error {
	out.reset()
	start := time.Now()
	n, err := r.process(ctx, fetches, out)
	if err != nil {
		return err
	}
	if out.Len() > 0 {
		if err := r.cl.ProduceSync(ctx, out.records...).FirstErr(); err != nil {
			return fmt.Errorf("%s: producing: %w", r.cfg.Name, err)
		}
		r.m.recordsOut.Add(float64(out.Len()))
	}
	if err := r.commitDurable(ctx, r.snapshot()); err != nil {
		return err
	}
	if n > 0 {
		r.m.batchSeconds.Observe(time.Since(start).Seconds())
	}
	return nil
}

// commitDurable commits, for each task, the offset below which its effects are durable.
func (r *Runner) commitDurable(ctx context.Context, tasks map[TopicPartition]*taskState) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for tp, ts := range tasks {
		d, ok := ts.task.(Durable)
		if !ok {
			return fmt.Errorf("%s: task of %s/%d is not Durable", r.cfg.Name, tp.Topic, tp.Partition)
		}
		off := d.DurableOffset()
		if off < 0 || off <= ts.committed {
			continue
		}
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerrOf(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		// Not fatal: the effects are durable and idempotent; the next commit retries.
		r.m.commitErrors.Inc()
		r.log.Warn("committing offsets", "err", cerr)
		return nil
	}
	for t, ps := range offsets {
		for p, eo := range ps {
			ts := tasks[TopicPartition{t, p}]
			ts.committed = eo.Offset
			if c, ok := ts.task.(Committer); ok {
				c.Committed(ctx, eo.Offset)
			}
		}
	}
	return nil
}

func (r *Runner) snapshot() map[TopicPartition]*taskState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[TopicPartition]*taskState, len(r.tasks))
	for tp, ts := range r.tasks {
		out[tp] = ts
	}
	return out
}

func (r *Runner) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, ps := range assigned {
		for _, p := range ps {
			r.assigned[TopicPartition{t, p}] = true
		}
	}
	r.log.Info("partitions assigned", "partitions", fmtPartitions(assigned))
}

func (r *Runner) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.dropTasks(ctx, revoked, true)
}

func (r *Runner) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.dropTasks(ctx, lost, false)
}

// dropTasks closes the tasks of partitions leaving this instance; in durable
// mode, when the partitions are revoked (not lost), it flushes and commits first.
func (r *Runner) dropTasks(ctx context.Context, parts map[string][]int32, flush bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	leaving := map[TopicPartition]*taskState{}
	for t, ps := range parts {
		for _, p := range ps {
			tp := TopicPartition{t, p}
			delete(r.assigned, tp)
			if ts := r.tasks[tp]; ts != nil {
				leaving[tp] = ts
				delete(r.tasks, tp)
			}
		}
	}
	if flush && !r.cfg.Transactional {
		for tp, ts := range leaving {
			if d, ok := ts.task.(Durable); ok {
				if err := d.Flush(ctx); err != nil {
					r.log.Error("flushing revoked partition", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			}
		}
		if err := r.commitDurable(ctx, leaving); err != nil {
			r.log.Error("committing revoked partitions", "err", err)
		}
	}
	for tp, ts := range leaving {
		if err := ts.task.Close(); err != nil {
			r.log.Warn("closing task", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
	}
	if len(leaving) > 0 {
		r.log.Info("partitions released", "partitions", fmtPartitions(parts), "flushed", flush)
	}
}

// createTasks creates (restoring state) the tasks of newly assigned partitions.
func (r *Runner) createTasks(ctx context.Context) error {
	r.mu.Lock()
	var todo []TopicPartition
	for tp := range r.assigned {
		if r.tasks[tp] == nil {
			todo = append(todo, tp)
		}
	}
	r.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool {
		if todo[i].Topic != todo[j].Topic {
			return todo[i].Topic < todo[j].Topic
		}
		return todo[i].Partition < todo[j].Partition
	})
	// One bound for the whole assignment: a dead producer's open
	// transaction spans many changelog partitions, and is waited for once.
	resolveBy := time.Now().Add(resolveWait)
	if r.kcfg.SoleWriter {
		resolveBy = time.Now() // nobody alive can still commit one
	}
	for _, tp := range todo {
		ts, err := r.newTask(ctx, tp, resolveBy)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.tasks[tp] = ts
		r.mu.Unlock()
	}
	return nil
}

func (r *Runner) newTask(ctx context.Context, tp TopicPartition, resolveBy time.Time) (*taskState, error) {
	start := time.Now()
	stores := map[string]*Store{}
	for _, name := range r.cfg.Stores {
		s := newStore(name, r.kcfg.Changelog(r.cfg.Name, name), tp.Partition)
		n, unresolved, err := restore(ctx, r.kcfg, s, resolveBy)
		if err != nil {
			return nil, fmt.Errorf("%s: restoring store %s of partition %d: %w", r.cfg.Name, name, tp.Partition, err)
		}
		switch {
		case unresolved > 0 && r.kcfg.SoleWriter:
			r.log.Info("changelog transactions left open by the previous run: treated as aborted",
				"store", name, "partition", tp.Partition, "transactions", unresolved)
		case unresolved > 0:
			r.log.Warn("changelog transactions still open after waiting for their markers: treated as aborted",
				"store", name, "partition", tp.Partition, "transactions", unresolved)
		}
		r.m.restoredRecords.Add(float64(n))
		stores[name] = s
	}
	task, err := r.factory(ctx, tp, stores)
	if err != nil {
		return nil, fmt.Errorf("%s: creating task of %s/%d: %w", r.cfg.Name, tp.Topic, tp.Partition, err)
	}
	if len(stores) > 0 {
		r.log.Debug("task restored", "topic", tp.Topic, "partition", tp.Partition, "took", time.Since(start))
	}
	return &taskState{task: task, stores: stores, committed: -1}, nil
}

func (r *Runner) rebuildAll(ctx context.Context) error {
	r.mu.Lock()
	old := r.tasks
	r.tasks = map[TopicPartition]*taskState{}
	r.mu.Unlock()
	for tp, ts := range old {
		if err := ts.task.Close(); err != nil {
			r.log.Warn("closing task", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
	}
	return r.createTasks(ctx)
}

func (r *Runner) shutdown(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.mu.Lock()
	tasks := r.tasks
	r.tasks = map[TopicPartition]*taskState{}
	r.mu.Unlock()
	if !r.cfg.Transactional && clean {
		for tp, ts := range tasks {
			if d, ok := ts.task.(Durable); ok {
				if err := d.Flush(ctx); err != nil {
					r.log.Error("flushing at shutdown", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			}
		}
		if err := r.commitDurable(ctx, tasks); err != nil {
			r.log.Error("committing at shutdown", "err", err)
		}
	}
	for _, ts := range tasks {
		_ = ts.task.Close()
	}
	r.closeClient()
}

func fmtPartitions(m map[string][]int32) string {
	s := ""
	for t, ps := range m {
		s += fmt.Sprintf("%s%v ", t, ps)
	}
	return s
}
