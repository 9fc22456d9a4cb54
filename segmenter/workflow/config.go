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
	// MessageCap bounds the messages (e-mails and webhooks) per profile
	// within MessageCapPer (wall clock), across workflows; 0: no cap.
	MessageCap    int           `yaml:"message_cap"`
	MessageCapPer time.Duration `yaml:"message_cap_per"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Concurrency: 8, BackoffBase: 500 * time.Millisecond, BackoffMax: 30 * time.Second, MessageCapPer: 24 * time.Hour}
}

// RegisterFlags binds the config to flags named workflow.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Group, "workflow.group", c.Group, "consumer group of the workflow consumer (default: topic prefix + \"workflow\")")
	fs.IntVar(&c.Concurrency, "workflow.concurrency", c.Concurrency, "partitions whose actions run at once")
	fs.DurationVar(&c.BackoffBase, "workflow.backoff-base", c.BackoffBase, "wait before an action's second attempt (doubles after each)")
	fs.DurationVar(&c.BackoffMax, "workflow.backoff-max", c.BackoffMax, "longest wait between two attempts")
	fs.IntVar(&c.MessageCap, "workflow.message-cap", c.MessageCap, "at most this many messages (e-mails, webhooks) per profile per -workflow.message-cap-per, across workflows (0: no cap)")
	fs.DurationVar(&c.MessageCapPer, "workflow.message-cap-per", c.MessageCapPer, "the window of -workflow.message-cap")
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
	if c.MessageCap < 0 || c.MessageCap > maxRunsKept {
		errs = append(errs, fmt.Errorf("workflow.message_cap: %d, want 0 (no cap) to %d", c.MessageCap, maxRunsKept))
	}
	if c.MessageCap > 0 && c.MessageCapPer <= 0 {
		errs = append(errs, fmt.Errorf("workflow.message_cap_per: %s, want > 0 with a message cap", c.MessageCapPer))
	}
	return errors.Join(errs...)
}
