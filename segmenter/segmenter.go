package segmenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// StoreName is the name of the segmenter's state store.
const StoreName = "profiles"

// Deps are what the segmenter is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Serde      *schemas.Serde
	Topics     kafka.Topics
	// Clock returns the wall-clock time (nil: time.Now).
	Clock func() time.Time
	// Definitions, when set, are used instead of loading Config.DefinitionsPath
	// (so that the workflow consumer and the segmenter share one load).
	Definitions *Definitions
	// Partitions is the enriched topic's partition count, with which the
	// admin profile view finds the partition that owns a profile (0:
	// unknown; the view then searches the partitions this instance owns).
	Partitions int32
}

// Segmenter evaluates segment definitions per profile. It is a
// stream.TaskFactory for the shared runner (see StreamConfig).
type Segmenter struct {
	cfg   Config
	defs  *Definitions
	log   *slog.Logger
	serde *schemas.Serde
	topic kafka.Topics
	now   func() time.Time
	m     *metrics
	clock *eventClock

	partitions int32
	mu         sync.Mutex      // guards tasks
	tasks      map[int32]*task // the running tasks, by partition (admin view)
}

// New validates the config, loads the definitions and registers metrics.
func New(cfg Config, deps Deps) (*Segmenter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if deps.Logger == nil {
		errs = append(errs, errors.New("segmenter: Deps.Logger is required"))
	}
	if deps.Registerer == nil {
		errs = append(errs, errors.New("segmenter: Deps.Registerer is required"))
	}
	if deps.Serde == nil {
		errs = append(errs, errors.New("segmenter: Deps.Serde is required"))
	}
	if deps.Topics.Membership == "" || deps.Topics.Enriched == "" || deps.Topics.Failed == "" {
		errs = append(errs, errors.New("segmenter: Deps.Topics needs the enriched, membership and failed topics"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	defs := deps.Definitions
	if defs == nil {
		var err error
		if defs, err = LoadDefinitions(cfg.DefinitionsPath); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("segmenter: registering metrics: %w", err)
	}
	now := deps.Clock
	if now == nil {
		now = time.Now
	}
	s := &Segmenter{cfg: cfg, defs: defs, log: deps.Logger, serde: deps.Serde, topic: deps.Topics, now: now, m: m,
		clock: newEventClock(cfg, now()), partitions: deps.Partitions, tasks: map[int32]*task{}}
	for _, seg := range defs.Segments {
		for _, tr := range []schemas.Transition{schemas.Entered, schemas.Exited} {
			m.transitions.WithLabelValues(seg.Name, string(tr)) // export zeros
		}
	}
	deps.Logger.Info("segment definitions loaded", "source", defs.Source, "segments", len(defs.Segments))
	return s, nil
}

// Definitions returns the loaded definitions.
func (s *Segmenter) Definitions() *Definitions { return s.defs }

// StreamConfig is the runner configuration the segmenter needs.
func (s *Segmenter) StreamConfig() stream.Config {
	return stream.Config{
		Name:          "segmenter",
		Topics:        []string{s.topic.Enriched},
		Stores:        []string{StoreName},
		Transactional: true,
	}
}

// NewTask implements stream.TaskFactory: it rebuilds the partition's timer
// index from the restored store.
func (s *Segmenter) NewTask(_ context.Context, tp stream.TopicPartition, stores map[string]*stream.Store) (stream.Task, error) {
	store := stores[StoreName]
	if store == nil {
		return nil, fmt.Errorf("segmenter: partition %d: store %q missing (stream.Config.Stores)", tp.Partition, StoreName)
	}
	return newTask(s, tp, store), nil
}
