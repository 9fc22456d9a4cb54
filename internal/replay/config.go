package replay

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultFile is the REES46 sample, relative to the project root.
const DefaultFile = "../shared/data/clickstream/rees46-multicategory/2019-Oct-head17k.csv"

// Config says what to replay, where, and how fast.
type Config struct {
	// URL is the collector's base URL; events go to URL + "/v1/batch".
	URL string `yaml:"url"`
	// WriteKey is sent as the HTTP Basic user.
	WriteKey string `yaml:"write_key"`
	// File is the REES46 CSV to replay.
	File string `yaml:"file"`
	// BatchSize is the number of events per /v1/batch request.
	BatchSize int `yaml:"batch_size"`
	// Concurrency is the number of requests in flight; 1 keeps file order.
	Concurrency int `yaml:"concurrency"`
	// Rate limits events per second; 0 means unlimited.
	Rate float64 `yaml:"rate"`
	// Timeout bounds one HTTP request.
	Timeout time.Duration `yaml:"timeout"`
	// RetryFor bounds how long one batch is retried before it counts as failed.
	RetryFor time.Duration `yaml:"retry_for"`
	// MinBackoff and MaxBackoff bound the exponential backoff between tries.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// SentAt sends sentAt (the time of each attempt), so that the
	// collector's clock-skew correction applies as for a live client.
	// Off by default: the rows' times are historical facts, and the
	// correction would add each request's transit time to them.
	SentAt bool `yaml:"sent_at"`
}

// DefaultConfig returns the defaults: the demo write key against a local
// collector, 100 events per batch, one request at a time, no rate limit.
func DefaultConfig() Config {
	return Config{
		URL:         "http://127.0.0.1:8080",
		WriteKey:    "sillage-demo",
		File:        DefaultFile,
		BatchSize:   100,
		Concurrency: 1,
		Timeout:     30 * time.Second,
		RetryFor:    2 * time.Minute,
		MinBackoff:  100 * time.Millisecond,
		MaxBackoff:  5 * time.Second,
	}
}

// RegisterFlags binds the config to flags named replay.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.SentAt, "replay.sent-at", c.SentAt, "send sentAt like a live client (clock-skew correction then adds transit time to the rows' times)")
	fs.StringVar(&c.URL, "replay.url", c.URL, "base URL of the collector to post to")
	fs.StringVar(&c.WriteKey, "replay.write-key", c.WriteKey, "write key of the source")
	fs.StringVar(&c.File, "replay.file", c.File, "REES46 CSV file to replay")
	fs.IntVar(&c.BatchSize, "replay.batch-size", c.BatchSize, "events per /v1/batch request")
	fs.IntVar(&c.Concurrency, "replay.concurrency", c.Concurrency, "requests in flight (1 keeps file order)")
	fs.Float64Var(&c.Rate, "replay.rate", c.Rate, "events per second, 0 for unlimited")
	fs.DurationVar(&c.Timeout, "replay.timeout", c.Timeout, "timeout of one request")
	fs.DurationVar(&c.RetryFor, "replay.retry-for", c.RetryFor, "how long to retry a batch before counting it failed")
	fs.DurationVar(&c.MinBackoff, "replay.min-backoff", c.MinBackoff, "first backoff between retries")
	fs.DurationVar(&c.MaxBackoff, "replay.max-backoff", c.MaxBackoff, "longest backoff between retries")
}

// Validate reports what is wrong with the config.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("replay.url: %w", err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("replay.url: %q is not an http(s) URL with a host", c.URL))
	}
	if strings.TrimSpace(c.WriteKey) == "" {
		errs = append(errs, errors.New("replay.write_key: required"))
	}
	if c.File == "" {
		errs = append(errs, errors.New("replay.file: required"))
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("replay.batch_size: %d, want 1 to 1000", c.BatchSize))
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("replay.concurrency: %d, want 1 to 256", c.Concurrency))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("replay.rate: %g, want 0 (unlimited) or more", c.Rate))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("replay.timeout: %s, want more than 0", c.Timeout))
	}
	if c.RetryFor < 0 {
		errs = append(errs, fmt.Errorf("replay.retry_for: %s, want 0 (no retry) or more", c.RetryFor))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("replay.min_backoff, replay.max_backoff: %s and %s, want 0 < min <= max", c.MinBackoff, c.MaxBackoff))
	}
	return errors.Join(errs...)
}

// endpoint is the /v1/batch URL, whether or not URL already ends with it.
func (c Config) endpoint() string {
	base := strings.TrimRight(c.URL, "/")
	base = strings.TrimSuffix(base, "/v1/batch")
	return base + "/v1/batch"
}
