package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics are the names of every topic, derived from the prefix.
type Topics struct {
	Raw        string
	Enriched   string
	Failed     string
	Membership string
	// Corrections carries the enricher's state corrections (profiles or
	// sessions merged), keyed by the surviving profile id.
	Corrections string
}

// Topics returns the topic names for the configured prefix.
func (c Config) Topics() Topics {
	p := c.TopicPrefix
	return Topics{
		Raw:         p + "events.raw",
		Enriched:    p + "events.enriched",
		Failed:      p + "events.failed",
		Membership:  p + "segments.membership",
		Corrections: p + "events.corrections",
	}
}

// Changelog returns the name of a state store's compacted changelog topic.
func (c Config) Changelog(stage, store string) string {
	return c.TopicPrefix + stage + "." + store + ".changelog"
}

// TopicSpec is a topic Sillage needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	Compacted  bool
}

// Specs returns the specs of the event topics.
func (c Config) Specs() []TopicSpec {
	t := c.Topics()
	return []TopicSpec{
		{Name: t.Raw, Partitions: c.Partitions},
		{Name: t.Enriched, Partitions: c.Partitions},
		{Name: t.Failed, Partitions: c.Partitions},
		{Name: t.Membership, Partitions: c.Partitions},
		{Name: t.Corrections, Partitions: c.Partitions},
	}
}

// ChangelogSpec is the spec of a changelog: compacted, co-partitioned with
// the input topic, with a bounded compaction lag so tombstones really erase.
func (c Config) ChangelogSpec(stage, store string) TopicSpec {
	return TopicSpec{Name: c.Changelog(stage, store), Partitions: c.Partitions, Compacted: true}
}

// EnsureTopics creates missing topics (when create is true) and checks that
// existing ones have at least the required partitions.
func EnsureTopics(ctx context.Context, cl *kgo.Client, replication int16, create bool, specs ...TopicSpec) error {
	adm := kadm.NewClient(cl)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	var errs []error
	for _, s := range specs {
		d, ok := details[s.Name]
		if ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got < s.Partitions {
				errs = append(errs, fmt.Errorf("topic %s has %d partitions, Sillage needs at least %d", s.Name, got, s.Partitions))
			}
			continue
		}
		if !create {
			errs = append(errs, fmt.Errorf("topic %s does not exist and kafka.create_topics is off", s.Name))
			continue
		}
		configs := map[string]*string{}
		if s.Compacted {
			configs["cleanup.policy"] = kadm.StringPtr("compact")
			configs["max.compaction.lag.ms"] = kadm.StringPtr(strconv.Itoa(24 * 3600 * 1000))
			configs["min.compaction.lag.ms"] = kadm.StringPtr("0")
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, replication, configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("creating topic %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
