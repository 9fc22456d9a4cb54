package kafka

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is how to reach Kafka and how topics are named and shaped.
type Config struct {
	Brokers           []string      `yaml:"brokers"`
	ClientID          string        `yaml:"client_id"`
	TopicPrefix       string        `yaml:"topic_prefix"`
	Partitions        int32         `yaml:"partitions"`
	ReplicationFactor int16         `yaml:"replication_factor"`
	DialTimeout       time.Duration `yaml:"dial_timeout"`
	// SessionTimeout is the consumer group session timeout of the stages:
	// how long the group waits for a member that stopped heartbeating (a
	// crashed process) before moving its partitions. Brokers accept
	// group.min.session.timeout.ms (6s by default) to
	// group.max.session.timeout.ms (30m).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// CreateTopics creates missing topics at start; otherwise they are only checked.
	CreateTopics bool `yaml:"create_topics"`
	// SoleWriter is set (by the program, not by configuration) when this
	// process is the only one that can ever write the stages' changelogs:
	// the embedded broker, whose data directory the process holds locked.
	// A transaction left open in a changelog can then only be the dead
	// previous incarnation's, and restore does not wait for its marker.
	SoleWriter bool `yaml:"-"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Brokers:           []string{"127.0.0.1:9092"},
		ClientID:          "sillage",
		TopicPrefix:       "sillage.",
		Partitions:        12,
		ReplicationFactor: -1,
		DialTimeout:       10 * time.Second,
		SessionTimeout:    45 * time.Second,
		CreateTopics:      true,
	}
}

// RegisterFlags binds the config to flags named kafka.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("kafka.brokers", "comma-separated Kafka bootstrap brokers (default 127.0.0.1:9092)", func(s string) error {
		c.Brokers = splitList(s)
		return nil
	})
	fs.StringVar(&c.ClientID, "kafka.client-id", c.ClientID, "Kafka client id prefix")
	fs.StringVar(&c.TopicPrefix, "kafka.topic-prefix", c.TopicPrefix, "prefix of every topic name")
	fs.Func("kafka.partitions", "partitions of topics Sillage creates", func(s string) error {
		var n int32
		_, err := fmt.Sscan(s, &n)
		c.Partitions = n
		return err
	})
	fs.Func("kafka.replication-factor", "replication factor of topics Sillage creates (-1: the brokers' default)", func(s string) error {
		var n int16
		_, err := fmt.Sscan(s, &n)
		c.ReplicationFactor = n
		return err
	})
	fs.BoolVar(&c.CreateTopics, "kafka.create-topics", c.CreateTopics, "create missing topics at start")
	fs.DurationVar(&c.SessionTimeout, "kafka.session-timeout", c.SessionTimeout, "consumer group session timeout: how long a crashed member keeps its partitions (brokers accept 6s to 30m by default)")
}

// Validate reports what is wrong with the config.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker is required"))
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("kafka.brokers: %q has no port", b))
		}
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("kafka.partitions: %d, want at least 1", c.Partitions))
	}
	if c.SessionTimeout < time.Second || c.SessionTimeout > 30*time.Minute {
		errs = append(errs, fmt.Errorf("kafka.session_timeout: %s, want between 1s and 30m (brokers accept 6s to 30m by default)", c.SessionTimeout))
	}
	if !strings.HasPrefix(c.TopicPrefix, "sillage") {
		errs = append(errs, fmt.Errorf("kafka.topic_prefix: %q must start with \"sillage\"", c.TopicPrefix))
	}
	return errors.Join(errs...)
}

// Opts returns the client options common to every client.
func (c Config) Opts(role string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID + "-" + role),
		kgo.DialTimeout(c.DialTimeout),
	}
}

// ProducerOpts returns options of a durable producer: idempotent, acks=all.
func (c Config) ProducerOpts(role string) []kgo.Opt {
	return append(c.Opts(role),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
