package segmenter

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config configures the segmenter.
type Config struct {
	// DefinitionsPath is the YAML file of segment (and workflow)
	// definitions; empty means the embedded demo definitions.
	DefinitionsPath string `yaml:"definitions_path"`
	// AllowedLateness is how far behind its partition's newest event time
	// an event may arrive and still be placed in its window while records
	// are flowing: a partition's timers fire once its newest event time
	// passes the deadline by this much.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// QuietPeriod is how long a partition must go without records before
	// it is taken as complete up to the instance's newest event time (so
	// timers of sparse partitions fire on time, and the end of a replay
	// decides everything up to its last event).
	QuietPeriod time.Duration `yaml:"quiet_period"`
	// IdleTimeout is how long the whole input must be silent before a live
	// stream's event time is advanced by the wall clock.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RecentEvents is how many of a profile's last events (id, type, name,
	// event time) its state keeps for the admin profile view, while it has
	// state for another reason; 0 keeps none (each kept event costs a
	// state write per batch, about a tenth of the segmenter's throughput).
	RecentEvents int `yaml:"recent_events"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		AllowedLateness: 10 * time.Second,
		QuietPeriod:     5 * time.Second,
		IdleTimeout:     time.Minute,
		RecentEvents:    10,
	}
}

// RegisterFlags binds the config to flags named segmenter.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DefinitionsPath, "segmenter.definitions", c.DefinitionsPath,
		"YAML file of segment and workflow definitions (empty: the embedded demo definitions)")
	fs.DurationVar(&c.AllowedLateness, "segmenter.allowed-lateness", c.AllowedLateness,
		"event-time disorder tolerated within a busy partition before its timers fire")
	fs.DurationVar(&c.QuietPeriod, "segmenter.quiet-period", c.QuietPeriod,
		"a partition without records for this long is complete up to the newest event time seen")
	fs.DurationVar(&c.IdleTimeout, "segmenter.idle-timeout", c.IdleTimeout,
		"silence after which a live stream's event time follows the wall clock")
	fs.IntVar(&c.RecentEvents, "segmenter.recent-events", c.RecentEvents,
		"last events (id, type, name, time) kept per profile for the admin profile view; 0: none")
}

// Validate reports what is wrong with the config.
func (c Config) Validate() error {
	var errs []error
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("segmenter.allowed_lateness: %s, want >= 0", c.AllowedLateness))
	}
	if c.QuietPeriod <= 0 {
		errs = append(errs, fmt.Errorf("segmenter.quiet_period: %s, want > 0", c.QuietPeriod))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("segmenter.idle_timeout: %s, want > 0", c.IdleTimeout))
	}
	if c.RecentEvents < 0 || c.RecentEvents > maxRecentEvents {
		errs = append(errs, fmt.Errorf("segmenter.recent_events: %d, want 0 to %d", c.RecentEvents, maxRecentEvents))
	}
	return errors.Join(errs...)
}

// maxRecentEvents bounds Config.RecentEvents.
const maxRecentEvents = 100
