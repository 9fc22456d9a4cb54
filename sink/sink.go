package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// Deps are what the sink is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Serde decodes the input topics' values.
	Serde *schemas.Serde
	// Topics names the input topics (kafka.Config.Topics()).
	Topics kafka.Topics
	// Store overrides Config.Root when set (tests, other object stores).
	Store ObjectStore
	// Now is the clock of age-based rolls (time.Now when nil).
	Now func() time.Time
}

// Sink writes the enriched events, membership transitions and failed events
// of its assigned partitions to the Parquet lake. It is driven by the
// shared stream runner in its Durable mode: see StreamConfig and
// TaskFactory.
type Sink struct {
	cfg     Config
	log     *slog.Logger
	serde   *schemas.Serde
	store   ObjectStore
	codec   compress.Codec
	now     func() time.Time
	metrics *metrics
	tables  map[string]string // input topic -> table

	writeFailing atomic.Bool
}

// New checks the config and opens the lake.
func New(cfg Config, deps Deps) (*Sink, error) {
	if deps.Store != nil && cfg.Root == "" {
		cfg.Root = deps.Store.String()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Serde == nil {
		return nil, errors.New("sink: Deps.Serde is required")
	}
	if deps.Topics.Enriched == "" || deps.Topics.Membership == "" || deps.Topics.Failed == "" {
		return nil, errors.New("sink: Deps.Topics must name the enriched, membership and failed topics")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	c, _ := codec(cfg.Compression) // validated
	store := deps.Store
	if store == nil {
		var err error
		if store, err = OpenStore(cfg.Root); err != nil {
			return nil, fmt.Errorf("sink.root: %w", err)
		}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:     cfg,
		log:     log.With("stage", "sink"),
		serde:   deps.Serde,
		store:   store,
		codec:   c,
		now:     now,
		metrics: m,
		tables: map[string]string{
			deps.Topics.Enriched:   TableEvents,
			deps.Topics.Membership: TableSegments,
			deps.Topics.Failed:     TableFailed,
		},
	}
	if deps.Topics.Corrections != "" {
		s.tables[deps.Topics.Corrections] = TableCorrections
	}
	s.log.Info("sink lake opened", "root", store.String(), "max_rows", cfg.MaxRows, "max_age", cfg.MaxAge, "compression", cfg.Compression)
	return s, nil
}

// StreamConfig is the runner configuration the sink needs: consumer group
// "sink", the three input topics, Durable (not transactional) commits.
func (s *Sink) StreamConfig() stream.Config {
	topics := make([]string, 0, len(s.tables))
	for _, t := range Tables {
		for topic, table := range s.tables {
			if table == t {
				topics = append(topics, topic)
			}
		}
	}
	return stream.Config{Name: "sink", Topics: topics, Transactional: false}
}

// TaskFactory returns the factory the runner calls per assigned partition.
func (s *Sink) TaskFactory() stream.TaskFactory { return s.NewTask }

// Store returns the lake's object store.
func (s *Sink) Store() ObjectStore { return s.store }

// Ready reports whether the last attempt to write to the lake succeeded:
// false while the object store is failing (the sink then retries and holds
// consumption), true again after the first success.
func (s *Sink) Ready() bool { return !s.writeFailing.Load() }

// retry runs op (an object store call) until it succeeds, with a backoff
// doubling from 100ms up to Config.RetryMaxBackoff. It gives up after
// Config.WriteRetries retries (never when it is -1) or when ctx ends. While
// op fails the sink reports not ready and sillage_sink_store_up is 0; the
// caller, blocked here, holds the runner's loop, so no record is polled and
// no offset committed until the store answers again: memory stays bounded
// by the open batches.
func (s *Sink) retry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	backoff := 100 * time.Millisecond
	var failingSince, logged time.Time
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			if attempt > 0 {
				log.Info("object store answers again", "op", what, "attempts", attempt+1, "failing_for", time.Since(failingSince).Round(time.Millisecond))
			}
			if s.writeFailing.CompareAndSwap(true, false) {
				s.metrics.storeUp.Set(1)
			}
			return nil
		}
		if attempt == 0 {
			failingSince = time.Now()
		}
		s.metrics.writeErrors.Inc()
		if !s.writeFailing.Swap(true) {
			s.metrics.storeUp.Set(0)
		}
		if ctx.Err() != nil || (s.cfg.WriteRetries >= 0 && attempt >= s.cfg.WriteRetries) {
			return fmt.Errorf("sink: %s in %s: %w", what, s.store, err)
		}
		// Log the first failures, then about once a minute.
		if attempt < 3 || time.Since(logged) >= time.Minute {
			logged = time.Now()
			log.Warn("object store operation failed; retrying (consumption is held meanwhile)", "op", what, "attempt", attempt+1,
				"failing_for", time.Since(failingSince).Round(time.Millisecond), "next_in", backoff, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sink: %s in %s: %w (gave up: %w)", what, s.store, err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.RetryMaxBackoff)
	}
}

// abortIncomplete removes what writes of this partition's files
// interrupted by a crash left in the store (S3 multipart uploads in
// progress, local temporary files): the partition is now this task's, so
// nothing else writes those keys. A failure is logged, not fatal: the
// leftovers only take space.
func (s *Sink) abortIncomplete(ctx context.Context, log *slog.Logger, tp stream.TopicPartition) {
	c, ok := s.store.(IncompleteCleaner)
	if !ok {
		return
	}
	name := FileName(tp.Topic, tp.Partition, 0, 0)
	name = name[:len(name)-len("0-0.parquet")] // "<topic>-p<partition>-"
	keys, err := c.AbortIncomplete(ctx, "", func(key string) bool {
		base := path.Base(key)
		return strings.HasPrefix(base, name) && strings.HasSuffix(base, ".parquet")
	})
	s.metrics.abortedUploads.Add(float64(len(keys)))
	if err != nil {
		log.Warn("removing incomplete uploads left by an interrupted run failed; they stay until the next start (or a bucket lifecycle rule)", "removed", len(keys), "err", err)
		return
	}
	if len(keys) > 0 {
		log.Info("removed incomplete uploads left by an interrupted run (multipart uploads aborted, temporary files deleted)", "count", len(keys), "keys", keys)
	}
}

// NewTask creates the task of one input partition. It lists the partition's
// batch manifests so that a restart reproduces the previous run's files.
func (s *Sink) NewTask(ctx context.Context, tp stream.TopicPartition, _ map[string]*stream.Store) (stream.Task, error) {
	table, ok := s.tables[tp.Topic]
	if !ok {
		return nil, fmt.Errorf("sink: no table for topic %s", tp.Topic)
	}
	log := s.log.With("topic", tp.Topic, "partition", tp.Partition)
	var refs []manifestRef
	var bad []string
	err := s.retry(ctx, log, "listing batch manifests", func() error {
		var err error
		refs, bad, err = listManifests(ctx, s.store, tp.Topic, tp.Partition)
		return err
	})
	if err != nil {
		return nil, err
	}
	var recent *recentIDs
	if table == TableEvents {
		recent = newRecentIDs(s.cfg.DedupEvents)
	}
	for _, k := range bad {
		log.Warn("ignoring object with an unexpected name among manifests", "key", k)
	}
	s.abortIncomplete(ctx, log, tp)
	return &task{
		s:         s,
		log:       log,
		tp:        tp,
		table:     table,
		cur:       newBatch(),
		durable:   -1,
		recent:    recent,
		manifests: refs,
	}, nil
}
