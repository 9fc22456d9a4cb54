package testkafka_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/testkafka"
)

func TestPrefix(t *testing.T) {
	valid := regexp.MustCompile(`^sillage\.t[0-9a-f]{8}\.$`)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p := testkafka.Prefix(t)
			require.Regexp(t, valid, p)
			require.Equal(t, p, testkafka.Prefix(t), "stable within a test")
			require.False(t, seen[p], "prefix %s reused", p)
			seen[p] = true
		})
	}
}

func TestRealBrokers(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"", nil},
		{" , ", nil},
		{"127.0.0.1:19092", []string{"127.0.0.1:19092"}},
		{"a:1, b:2,,c:3 ", []string{"a:1", "b:2", "c:3"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(testkafka.EnvBrokers, tc.env)
			require.Equal(t, tc.want, testkafka.RealBrokers())
			require.Equal(t, tc.want != nil, testkafka.Real())
		})
	}
}

// TestProduceConsume runs on kfake, or on real Kafka when
// SILLAGE_TEST_KAFKA_BROKERS is set: idempotent acks=all production, then
// a consumer group reading everything back in per-key order.
func TestProduceConsume(t *testing.T) {
	topic := testkafka.Prefix(t) + "probe"
	brokers := testkafka.Cluster(t, testkafka.Topics(3, topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	producer := testkafka.Client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	const perKey, keys = 50, 6
	var recs []*kgo.Record
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint("k", k)), Value: []byte(fmt.Sprint(i))})
		}
	}
	require.NoError(t, producer.ProduceSync(ctx, recs...).FirstErr())

	consumer := testkafka.Client(t, brokers,
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(testkafka.Prefix(t)+"group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	next := map[string]int{}
	partitions := map[int32]bool{}
	total := 0
	for total < len(recs) {
		fs := consumer.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d records", total, len(recs))
		fs.EachError(func(topic string, p int32, err error) { require.NoError(t, err, "fetching %s/%d", topic, p) })
		fs.EachRecord(func(r *kgo.Record) {
			require.Equal(t, fmt.Sprint(next[string(r.Key)]), string(r.Value), "order of key %s", r.Key)
			next[string(r.Key)]++
			partitions[r.Partition] = true
			total++
		})
	}
	require.Len(t, next, keys)
	require.Greater(t, len(partitions), 1, "keys spread over partitions")
	require.NoError(t, consumer.CommitUncommittedOffsets(ctx))
}

// TestTransactions checks that transactions work (the transaction state log
// is configured on the real broker) and read_committed hides aborted ones.
func TestTransactions(t *testing.T) {
	topic := testkafka.Prefix(t) + "txn"
	brokers := testkafka.Cluster(t, testkafka.Topics(1, topic))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	producer := testkafka.Client(t, brokers,
		kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(testkafka.Prefix(t)+"tx"),
	)
	for _, commit := range []bool{false, true} {
		require.NoError(t, producer.BeginTransaction())
		require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(commit))}).FirstErr())
		require.NoError(t, producer.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
	}

	consumer := testkafka.Client(t, brokers,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	fs := consumer.PollFetches(ctx)
	require.NoError(t, fs.Err())
	got := fs.Records()
	require.Len(t, got, 1)
	require.Equal(t, "true", string(got[0].Value))
}

// TestNoAutoCreate checks that kfake behaves like the real test broker
// (auto.create.topics.enable=false): producing to a missing topic fails.
func TestNoAutoCreate(t *testing.T) {
	brokers := testkafka.Cluster(t)
	cl := testkafka.Client(t, brokers, kgo.UnknownTopicRetries(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: testkafka.Prefix(t) + "missing", Value: []byte("x")}).FirstErr()
	require.True(t, errors.Is(err, kerr.UnknownTopicOrPartition), "got %v", err)
}

func TestFake(t *testing.T) {
	topic := testkafka.Prefix(t) + "seeded"
	c := testkafka.Fake(t, testkafka.NumBrokers(3), testkafka.Topics(4, topic))
	require.Len(t, c.ListenAddrs(), 3)
	require.Len(t, c.PartitionInfos(topic), 4)
}
