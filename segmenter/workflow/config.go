package workflow

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config configures the workflow consumer.
type Config struct {
	// Group is the consumer group on the membership topic (empty: the
	// topic prefix + "workflow", as the runner names its groups).
	Group string `yaml:"group"`
	// Concurrency bounds how many partitions run actions at once.
	Concurrency int `yaml:"concurrency"`
	// BackoffBase is the wait before the second attempt of an action; it
	// doubles with each further attempt, up to BackoffMax.
	BackoffBase time.Duration `yaml:"backoff_base"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Concurrency: 8, BackoffBase: 500 * time.Millisecond, BackoffMax: 30 * time.Second}
}

// RegisterFlags binds the config to flags named workflow.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Group, "workflow.group", c.Group, "consumer group of the workflow consumer (default: topic prefix + \"workflow\")")
	fs.IntVar(&c.Concurrency, "workflow.concurrency", c.Concurrency, "partitions whose actions run at once")
	fs.DurationVar(&c.BackoffBase, "workflow.backoff-base", c.BackoffBase, "wait before an action's second attempt (doubles after each)")
	fs.DurationVar(&c.BackoffMax, "workflow.backoff-max", c.BackoffMax, "longest wait between two attempts")
}

// Validate reports what is wrong with the config.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("workflow.concurrency: %d, want >= 1", c.Concurrency))
	}
	if c.BackoffBase <= 0 {
		errs = append(errs, fmt.Errorf("workflow.backoff_base: %s, want > 0", c.BackoffBase))
	}
	if c.BackoffMax < c.BackoffBase {
		errs = append(errs, fmt.Errorf("workflow.backoff_max: %s, want >= backoff_base (%s)", c.BackoffMax, c.BackoffBase))
	}
	return errors.Join(errs...)
}
