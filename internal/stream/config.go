package stream

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one runner.
type Config struct {
	// Name is the stage name: it names the consumer group (prefix + name),
	// the transactional id and the changelog topics.
	Name string
	// Topics are the input topics.
	Topics []string
	// Stores are the names of the partition-local state stores each task
	// gets; only allowed with a single input topic.
	Stores []string
	// Transactional selects the transactional mode (see package doc);
	// otherwise tasks must implement Durable.
	Transactional bool
	// TickInterval bounds the time between two Tick calls (default 200ms).
	TickInterval time.Duration
	// MaxPollRecords bounds one batch (default 2000).
	MaxPollRecords int
	// InstanceID distinguishes instances of the same stage (transactional id suffix).
	InstanceID string
}

func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("stream: Name is required")
	}
	if len(c.Topics) == 0 {
		return errors.New("stream: at least one input topic is required")
	}
	if len(c.Stores) > 0 && len(c.Topics) != 1 {
		return errors.New("stream: state stores need exactly one input topic")
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 200 * time.Millisecond
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 2000
	}
	return nil
}

// Deps are what the runner is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}
