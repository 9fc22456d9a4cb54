package stream

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/testkafka"
)

// countTask counts records per key in a store and emits "key=count".
type countTask struct {
	store *Store
	out   string
}

func (t *countTask) Process(_ context.Context, rec *kgo.Record, out *Output) error {
	n := 0
	if v, ok := t.store.Get(string(rec.Key)); ok {
		n, _ = strconv.Atoi(string(v))
	}
	n++
	t.store.Put(string(rec.Key), []byte(strconv.Itoa(n)))
	out.Produce(&kgo.Record{Topic: t.out, Key: rec.Key, Value: []byte(fmt.Sprintf("%s=%d", rec.Key, n))})
	return nil
}
func (t *countTask) Tick(context.Context, time.Time, *Output) error { return nil }
func (t *countTask) Close() error                                   { return nil }

// testCluster returns a kfake cluster, or the real Kafka of
// SILLAGE_TEST_KAFKA_BROKERS, with topics named by the returned config's
// prefix: use kcfg.TopicPrefix + name.
func testCluster(t testing.TB, parts int32, topics ...string) kafka.Config {
	t.Helper()
	prefix := testkafka.Prefix(t)
	names := make([]string, len(topics))
	for i, n := range topics {
		names[i] = prefix + n
	}
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = testkafka.Cluster(t, testkafka.Topics(parts, names...))
	kcfg.Partitions = parts
	kcfg.TopicPrefix = prefix
	return kcfg
}

func produce(t testing.TB, kcfg kafka.Config, topic string, from, to int, keys int) {
	t.Helper()
	cl, err := kgo.NewClient(kcfg.ProducerOpts("test")...)
	require.NoError(t, err)
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%keys)), Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

func consumeAll(t testing.TB, kcfg kafka.Config, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(append(kcfg.Opts("check"), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	require.NoError(t, err)
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		cancel()
	}
	// Give a moment for any duplicate to show up.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	cancel()
	return got
}

func runFor(t testing.TB, r *Runner, until func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() { defer wg.Done(); runErr = r.Run(ctx) }()
	require.Eventually(t, until, 20*time.Second, 20*time.Millisecond)
	cancel()
	wg.Wait()
	require.NoError(t, runErr)
}

func TestTransactionalRunnerRestoresStateAndEmitsOnce(t *testing.T) {
	kcfg := testCluster(t, 3, "in", "out")
	in, outTopic := kcfg.TopicPrefix+"in", kcfg.TopicPrefix+"out"
	factory := func(_ context.Context, _ TopicPartition, stores map[string]*Store) (Task, error) {
		return &countTask{store: stores["counts"], out: outTopic}, nil
	}
	newRunner := func() *Runner {
		r, err := New(kcfg, Config{Name: "count", Topics: []string{in}, Stores: []string{"counts"}, Transactional: true}, factory, Deps{})
		require.NoError(t, err)
		return r
	}
	produce(t, kcfg, in, 0, 300, 10)
	r1 := newRunner()
	runFor(t, r1, func() bool { return r1.m != nil && testutilCount(r1.m.recordsOut) >= 300 })

	produce(t, kcfg, in, 300, 600, 10)
	r2 := newRunner()
	runFor(t, r2, func() bool { return testutilCount(r2.m.recordsOut) >= 300 })

	got := consumeAll(t, kcfg, outTopic, 600)
	require.Len(t, got, 600, "every input exactly once in the output")
	seen := map[string]bool{}
	for _, v := range got {
		require.False(t, seen[v], "duplicate output %s", v)
		seen[v] = true
	}
	// The second runner continued the counts restored from the changelog.
	for k := 0; k < 10; k++ {
		require.True(t, seen[fmt.Sprintf("k%d=60", k)], "k%d reached 60", k)
	}
}

// durableTask makes records durable only when Flush is called or every 50 records.
type durableTask struct {
	mu      sync.Mutex
	pending []int64
	durable int64
	sink    *[]string
	smu     *sync.Mutex
}

func (t *durableTask) Process(_ context.Context, rec *kgo.Record, _ *Output) error {
	t.pending = append(t.pending, rec.Offset)
	if len(t.pending) >= 50 {
		return t.Flush(context.Background())
	}
	t.smu.Lock()
	*t.sink = append(*t.sink, string(rec.Value))
	t.smu.Unlock()
	return nil
}
func (t *durableTask) Tick(context.Context, time.Time, *Output) error { return nil }
func (t *durableTask) Close() error                                   { return nil }
func (t *durableTask) DurableOffset() int64                           { return t.durable }
func (t *durableTask) Flush(context.Context) error {
	if len(t.pending) > 0 {
		t.durable = t.pending[len(t.pending)-1] + 1
		t.pending = nil
	}
	return nil
}

func TestDurableRunnerCommitsOnlyDurableOffsets(t *testing.T) {
	kcfg := testCluster(t, 1, "in")
	in := kcfg.TopicPrefix + "in"
	produce(t, kcfg, in, 0, 120, 1)
	var seen []string
	var smu sync.Mutex
	var task *durableTask
	factory := func(_ context.Context, _ TopicPartition, _ map[string]*Store) (Task, error) {
		task = &durableTask{durable: -1, sink: &seen, smu: &smu}
		return task, nil
	}
	r, err := New(kcfg, Config{Name: "durable", Topics: []string{in}}, factory, Deps{})
	require.NoError(t, err)
	runFor(t, r, func() bool { return testutilCount(r.m.recordsIn) >= 120 })
	// Run flushed at shutdown: everything committed.
	cl, err := kgo.NewClient(kcfg.Opts("check")...)
	require.NoError(t, err)
	defer cl.Close()
	offs := fetchCommitted(t, cl, kcfg.TopicPrefix+"durable", in)
	require.Equal(t, int64(120), offs)
}
