package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
)

const (
	testTopic    = "sillage.events.raw"
	testKey      = "wk-test"
	demoKey      = "sillage-demo"
	testReceived = int64(1_717_243_200_000) // 2024-06-01T12:00:00Z
)

// testEnv is a collector serving on loopback, producing to a kfake cluster.
type testEnv struct {
	cluster *kfake.Cluster
	prod    *kgo.Client
	serde   *schemas.Serde
	coll    *Collector
	reg     *prometheus.Registry
	url     string
	// kafkaDown makes the cluster refuse every produce request while set.
	kafkaDown atomic.Bool
	// produceDelay holds every produce request this long before kfake
	// handles it (a slow broker).
	produceDelay atomic.Int64
	// stop stops the collector (once), as the test's end does.
	stop func(testing.TB)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.ProduceTimeout = 2 * time.Second
	cfg.ReadyProbeInterval = 50 * time.Millisecond
	cfg.Sources = []Source{
		{Name: "web", WriteKey: testKey, AllowedOrigins: []string{"https://shop.example"}},
		{Name: "demo", WriteKey: demoKey, AllowedOrigins: []string{"*"}},
	}
	return cfg
}

// newEnv starts kfake, a real idempotent acks=all producer and the
// collector on 127.0.0.1:0; everything stops at the end of the test.
func newEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{}
	var err error
	e.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, testTopic))
	require.NoError(t, err)
	t.Cleanup(e.cluster.Close)
	e.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if e.kafkaDown.Load() {
			return nil, io.ErrUnexpectedEOF, true // closes the connection
		}
		if d := e.produceDelay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		return nil, nil, false
	})

	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = e.cluster.ListenAddrs()
	// Linger 0: a request waits for its ack, so batching by delay only adds
	// latency (see the report: the lead should pass the same option).
	e.prod, err = kgo.NewClient(append(kcfg.ProducerOpts("collector-test"), kgo.ProducerLinger(0))...)
	require.NoError(t, err)
	t.Cleanup(e.prod.Close)

	topics := map[schemas.Kind]string{schemas.KindRaw: testTopic}
	e.serde, err = schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(t, err)

	e.start(t, mutate)
	return e
}

// newEnvOn starts another collector on the same cluster and producer.
func newEnvOn(t testing.TB, base *testEnv, mutate func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{cluster: base.cluster, prod: base.prod, serde: base.serde}
	e.start(t, mutate)
	return e
}

// start builds the collector and serves it until stop or the test's end.
func (e *testEnv) start(t testing.TB, mutate func(*Config)) {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	e.reg = prometheus.NewRegistry()
	e.coll, err = New(cfg, Deps{
		Registerer: e.reg, Producer: e.prod, Serde: e.serde, Topic: testTopic,
		Clock:     func() time.Time { return time.UnixMilli(testReceived) },
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.cluster.ListenAddrs()...)},
	})
	require.NoError(t, err)

	ln, err := net.Listen("tcp", cfg.Addr)
	require.NoError(t, err)
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.coll.Serve(ctx, ln) }()
	var once sync.Once
	e.stop = func(t testing.TB) {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			require.NoError(t, e.coll.Close())
		})
	}
	t.Cleanup(func() { e.stop(t) })
	require.Eventually(t, e.coll.Ready, 5*time.Second, 10*time.Millisecond)
}

// response is an answer of the collector.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(t testing.TB) errorBody {
	t.Helper()
	var eb errorBody
	require.NoError(t, json.Unmarshal(r.body, &eb), "body %q", r.body)
	return eb
}

// do sends a request; headers are name, value pairs.
func (e *testEnv) do(t testing.TB, method, path string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends a body with the test write key as HTTP Basic user.
func (e *testEnv) post(t testing.TB, path, body string, headers ...string) response {
	t.Helper()
	return e.do(t, http.MethodPost, path, []byte(body), append([]string{"Authorization", basic(testKey)}, headers...)...)
}

func basic(key string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(key, "")
	return req.Header.Get("Authorization")
}

// records returns every record of the raw topic, decoded, in no particular
// order across partitions.
func (e *testEnv) records(t testing.TB) []*schemas.RawEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.ListenAddrs()...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, testTopic)
	require.NoError(t, err)
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	var out []*schemas.RawEvent
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records", len(out), want)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := e.serde.DecodeRaw(ctx, r.Value)
			require.NoError(t, err)
			require.Equal(t, ev.Key(), string(r.Key), "record key is the anonymous id, else the user id")
			out = append(out, ev)
		})
	}
	return out
}

func byID(events []*schemas.RawEvent) map[string]*schemas.RawEvent {
	m := make(map[string]*schemas.RawEvent, len(events))
	for _, e := range events {
		m[e.EventID] = e
	}
	return m
}

// counterValue reads a counter (testutil would need another module).
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// doMulti posts body with the test write key; headers are name, value
// pairs and a repeated name is sent as several header lines.
func (e *testEnv) doMulti(t testing.TB, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Authorization", basic(testKey))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}
