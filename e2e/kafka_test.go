package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

// testSerde decodes what the binary wrote: without -schema-registry.url
// every process uses the built-in registry, whose ids are fixed.
func testSerde(t testing.TB, prefix string) *schemas.Serde {
	t.Helper()
	topics := map[schemas.Kind]string{
		schemas.KindRaw:        prefix + "events.raw",
		schemas.KindEnriched:   prefix + "events.enriched",
		schemas.KindMembership: prefix + "segments.membership",
		schemas.KindFailed:     prefix + "events.failed",
	}
	s, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(t, err)
	return s
}

// readTopic reads every committed record of topic.
func readTopic(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords())
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	require.NoError(t, err)
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	done := func() bool {
		for _, end := range want {
			if end > 0 {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: timed out with partitions left %v", topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				want[r.Partition] = 0
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// memberships decodes the membership topic and returns the transitions and
// the current members of each segment.
func memberships(t testing.TB, brokers []string, prefix string) ([]*schemas.MembershipTransition, map[string]map[string]bool) {
	t.Helper()
	serde := testSerde(t, prefix)
	var all []*schemas.MembershipTransition
	members := map[string]map[string]bool{}
	for _, r := range readTopic(t, brokers, prefix+"segments.membership") {
		m, err := serde.DecodeMembership(context.Background(), r.Value)
		require.NoError(t, err)
		all = append(all, m)
		if members[m.Segment] == nil {
			members[m.Segment] = map[string]bool{}
		}
		switch m.Transition {
		case schemas.Entered:
			members[m.Segment][m.ProfileID] = true
		case schemas.Exited:
			delete(members[m.Segment], m.ProfileID)
		}
	}
	return all, members
}

// logOffsets logs, per partition, the high watermark and the last stable
// offset of topics (diagnostics for a failed check).
func logOffsets(t testing.TB, brokers []string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hwm, err1 := adm.ListEndOffsets(ctx, topics...)
	lso, err2 := adm.ListCommittedOffsets(ctx, topics...)
	if err1 != nil || err2 != nil {
		t.Logf("listing offsets: %v %v", err1, err2)
		return
	}
	hwm.Each(func(o kadm.ListedOffset) {
		l, _ := lso.Lookup(o.Topic, o.Partition)
		t.Logf("%s/%d: high watermark %d, last stable %d", o.Topic, o.Partition, o.Offset, l.Offset)
	})
}
