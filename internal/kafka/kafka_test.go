package kafka

import (
	"context"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFlagsAndValidate(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-kafka.brokers", "a:1, b:2", "-kafka.partitions", "6", "-kafka.replication-factor", "3", "-kafka.topic-prefix", "sillage.staging.", "-kafka.session-timeout", "6s"}))
	require.Equal(t, 6*time.Second, c.SessionTimeout)
	require.Equal(t, []string{"a:1", "b:2"}, c.Brokers)
	require.Equal(t, int32(6), c.Partitions)
	require.Equal(t, int16(3), c.ReplicationFactor)
	require.NoError(t, c.Validate())
	require.Equal(t, "sillage.staging.segments.membership", c.Topics().Membership)
	require.Equal(t, "sillage.staging.events.corrections", c.Topics().Corrections)
	require.Equal(t, "sillage.staging.enricher.sessions.changelog", c.Changelog("enricher", "sessions"))

	bad := Config{Brokers: []string{"nohost"}, Partitions: 0, TopicPrefix: "other."}
	err := bad.Validate()
	require.ErrorContains(t, err, `"nohost" has no port`)
	require.ErrorContains(t, err, "kafka.partitions: 0")
	require.ErrorContains(t, err, "kafka.topic_prefix")
	require.ErrorContains(t, err, "kafka.session_timeout: 0s")
}

// TestSpecsCoverEveryTopic guards against a topic added to Topics but not
// created: every field of Topics is named, under the prefix, in Specs().
func TestSpecsCoverEveryTopic(t *testing.T) {
	c := DefaultConfig()
	c.TopicPrefix = "sillage.test."
	specs := map[string]TopicSpec{}
	for _, s := range c.Specs() {
		specs[s.Name] = s
	}
	tv := reflect.ValueOf(c.Topics())
	require.Len(t, specs, tv.NumField(), "one spec per topic, no duplicates")
	for i := 0; i < tv.NumField(); i++ {
		name := tv.Field(i).String()
		field := tv.Type().Field(i).Name
		require.True(t, strings.HasPrefix(name, c.TopicPrefix), "%s: %q", field, name)
		s, ok := specs[name]
		require.True(t, ok, "topic %s (%s) is missing from Specs()", field, name)
		require.Equal(t, c.Partitions, s.Partitions, name)
		require.False(t, s.Compacted, "event topics are not compacted: %s", name)
	}
}

func TestEnsureTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "sillage.small"))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Partitions = 3
	specs := append(cfg.Specs(), cfg.ChangelogSpec("enricher", "sessions"))
	require.NoError(t, EnsureTopics(ctx, cl, -1, true, specs...))
	details, err := kadm.NewClient(cl).ListTopics(ctx)
	require.NoError(t, err)
	for _, s := range specs {
		require.Len(t, details[s.Name].Partitions, 3, s.Name)
	}
	rc, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, cfg.Changelog("enricher", "sessions"))
	require.NoError(t, err)
	require.NoError(t, rc[0].Err)
	found := false
	for _, cv := range rc[0].Configs {
		if cv.Key == "cleanup.policy" && cv.Value != nil && *cv.Value == "compact" {
			found = true
		}
	}
	require.True(t, found, "changelogs are compacted")
	// Idempotent, and a topic with too few partitions is reported.
	require.NoError(t, EnsureTopics(ctx, cl, -1, true, specs...))
	err = EnsureTopics(ctx, cl, -1, true, TopicSpec{Name: "sillage.small", Partitions: 4})
	require.ErrorContains(t, err, "sillage.small has 2 partitions, Sillage needs at least 4")
	err = EnsureTopics(ctx, cl, -1, false, TopicSpec{Name: "sillage.missing", Partitions: 1})
	require.ErrorContains(t, err, "does not exist and kafka.create_topics is off")
}
