package testkafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable holding the comma-separated
// bootstrap addresses of a real Kafka cluster to test against.
const EnvBrokers = "SILLAGE_TEST_KAFKA_BROKERS"

// Option changes how Cluster prepares the cluster.
type Option func(*options)

type options struct {
	brokers    int
	topics     []topicSpec
	fakeOpts   []kfake.Opt
	keepTopics bool
}

type topicSpec struct {
	partitions int32
	names      []string
}

// Topics creates the named topics with the given partitions before Cluster
// returns (kfake: seeded; real Kafka: created with the broker's default
// replication factor). Names are used as given: build them on Prefix(t).
func Topics(partitions int32, names ...string) Option {
	return func(o *options) { o.topics = append(o.topics, topicSpec{partitions, names}) }
}

// NumBrokers sets the number of kfake brokers (default 1). A real cluster
// has the brokers it has; the option is ignored there.
func NumBrokers(n int) Option { return func(o *options) { o.brokers = n } }

// FakeOpts passes options to kfake.NewCluster; ignored on real Kafka.
func FakeOpts(opts ...kfake.Opt) Option {
	return func(o *options) { o.fakeOpts = append(o.fakeOpts, opts...) }
}

// KeepTopics keeps the test's topics on a real broker after the test (for
// debugging); by default every topic under Prefix(t) is deleted.
func KeepTopics() Option { return func(o *options) { o.keepTopics = true } }

// RealBrokers returns the brokers named by SILLAGE_TEST_KAFKA_BROKERS, or
// nil when the tests run on kfake.
func RealBrokers() []string { return parseBrokers(os.Getenv(EnvBrokers)) }

// Real reports whether tests run against real Kafka.
func Real() bool { return len(RealBrokers()) > 0 }

func parseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Cluster returns the bootstrap brokers of a cluster for t: the real brokers
// of SILLAGE_TEST_KAFKA_BROKERS if set, else a new kfake cluster that is
// closed when the test ends.
func Cluster(t testing.TB, opts ...Option) []string {
	t.Helper()
	o := options{brokers: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if brokers := RealBrokers(); len(brokers) > 0 {
		return realCluster(t, brokers, o)
	}
	return Fake(t, opts...).ListenAddrs()
}

// Fake always starts an in-process kfake cluster (for tests that inject
// faults with ControlKey and so cannot run on real Kafka). It is closed
// when the test ends.
func Fake(t testing.TB, opts ...Option) *kfake.Cluster {
	t.Helper()
	o := options{brokers: 1}
	for _, opt := range opts {
		opt(&o)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(o.brokers)}
	for _, s := range o.topics {
		kopts = append(kopts, kfake.SeedTopics(s.partitions, s.names...))
	}
	kopts = append(kopts, o.fakeOpts...)
	c, err := kfake.NewCluster(kopts...)
	require.NoError(t, err, "starting kfake cluster")
	t.Cleanup(c.Close)
	return c
}

func realCluster(t testing.TB, brokers []string, o options) []string {
	t.Helper()
	cl := Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.Ping(ctx), "%s=%s is set but the brokers do not answer", EnvBrokers, strings.Join(brokers, ","))

	prefix := Prefix(t)
	if !o.keepTopics {
		// Registered before any client of the test, so it runs after they close.
		t.Cleanup(func() { deleteTopics(t, brokers, prefix) })
	}
	adm := kadm.NewClient(cl)
	for _, s := range o.topics {
		resp, err := adm.CreateTopics(ctx, s.partitions, -1, nil, s.names...)
		require.NoError(t, err, "creating topics %v", s.names)
		for _, r := range resp.Sorted() {
			require.NoError(t, r.Err, "creating topic %s", r.Topic)
		}
	}
	return brokers
}

func deleteTopics(t testing.TB, brokers []string, prefix string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Logf("testkafka: deleting topics %s*: %v", prefix, err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Logf("testkafka: listing topics to delete %s*: %v", prefix, err)
		return
	}
	var mine []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			mine = append(mine, name)
		}
	}
	if len(mine) == 0 {
		return
	}
	if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
		t.Logf("testkafka: deleting topics %v: %v", mine, err)
	}
}

var (
	prefixMu sync.Mutex
	prefixes = map[testing.TB]string{}
)

// Prefix returns the topic prefix of t, unique per test and stable for its
// duration, like "sillage.t3f9a0c1e.": it starts with "sillage" as
// kafka.Config requires, so it can be used as kafka.Config.TopicPrefix.
func Prefix(t testing.TB) string {
	prefixMu.Lock()
	defer prefixMu.Unlock()
	if p, ok := prefixes[t]; ok {
		return p
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	p := "sillage.t" + hex.EncodeToString(b[:]) + "."
	prefixes[t] = p
	t.Cleanup(func() {
		prefixMu.Lock()
		delete(prefixes, t)
		prefixMu.Unlock()
	})
	return p
}

// Client returns a franz-go client seeded with brokers, closed when the test
// ends. opts come after the seed brokers and may override anything.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	require.NoError(t, err, "creating Kafka client")
	t.Cleanup(cl.Close)
	return cl
}
