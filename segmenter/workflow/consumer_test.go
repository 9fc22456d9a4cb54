package workflow

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

func testTopics() kafka.Topics { return kafka.DefaultConfig().Topics() }

func testSerde(tb testing.TB) *schemas.Serde {
	tb.Helper()
	tp := testTopics()
	topics := map[schemas.Kind]string{schemas.KindMembership: tp.Membership, schemas.KindFailed: tp.Failed}
	s, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(tb, err)
	return s
}

func sampleTransition(id, profile string, marketing bool) *schemas.MembershipTransition {
	return &schemas.MembershipTransition{
		ID: id, Segment: "cart_abandoned", ProfileID: profile, Transition: schemas.Entered,
		Reason: "no order", EventTime: time.Date(2019, 10, 1, 0, 30, 0, 0, time.UTC).UnixMilli(), EvaluatedAt: 1,
		Consent: schemas.Consent{Necessary: true, Personalisation: true, Marketing: marketing},
	}
}

// env is a kfake cluster with the topics, a serde and a producer.
type env struct {
	kcfg  kafka.Config
	serde *schemas.Serde
	cl    *kgo.Client
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, testTopics().Membership, testTopics().Failed))
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(tb, err)
	tb.Cleanup(cl.Close)
	return &env{kcfg: kcfg, serde: testSerde(tb), cl: cl}
}

func (e *env) produce(tb testing.TB, ts ...*schemas.MembershipTransition) {
	tb.Helper()
	for _, t := range ts {
		v, err := e.serde.Encode(schemas.KindMembership, t, nil)
		require.NoError(tb, err)
		require.NoError(tb, e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: testTopics().Membership, Key: []byte(t.ProfileID), Value: v}).FirstErr())
	}
}

// consumer starts a Consumer; the returned stop cancels it and waits.
func (e *env) consumer(tb testing.TB, url string, maxAttempts int) (*Consumer, *prometheus.Registry, func()) {
	tb.Helper()
	defs, err := segmenter.ParseDefinitions([]byte(segmentsYAML + `
workflows:
  - name: remind
    trigger: {segment: cart_abandoned, on: entered}
    actions:
      - webhook: {url: "` + url + `", secret: s3cret, timeout: 1s, max_attempts: ` + itoa(maxAttempts) + `}
`))
	require.NoError(tb, err)
	cfg := DefaultConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := New(e.kcfg, cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
		Serde: e.serde, Topics: testTopics(), Definitions: defs})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			require.NoError(tb, err)
		case <-time.After(15 * time.Second):
			tb.Fatal("Run did not return after cancel")
		}
	}
	tb.Cleanup(stop)
	return c, reg, stop
}

func itoa(n int) string { return strconv.Itoa(n) }

func counter(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	require.NoError(tb, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return metricOf(m)
		}
	}
	return 0
}

func metricOf(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func committed(tb testing.TB, e *env, group string) int64 {
	tb.Helper()
	offs, err := kadm.NewClient(e.cl).FetchOffsets(context.Background(), group)
	require.NoError(tb, err)
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	return total
}

func TestConsumerDeliversOnceWithConsent(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t, 500, 200) // the first delivery is retried once
	e.produce(t,
		sampleTransition("t-1", "alice", true),
		sampleTransition("t-2", "bob", false), // no marketing consent: no webhook
		&schemas.MembershipTransition{ID: "t-3", Segment: "cart_abandoned", ProfileID: "carol", Transition: schemas.Exited,
			Consent: schemas.Consent{Marketing: true}}, // not a trigger
	)
	_, reg, stop := e.consumer(t, srv.URL, 3)
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_transitions_in_total", nil) == 3 &&
			committed(t, e, "sillage.workflow") == 3
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	reqs := srv.received()
	require.Len(t, reqs, 2, "one delivery, retried once")
	for _, r := range reqs {
		require.Equal(t, "t-1", r.header.Get(IdempotencyKeyHeader))
		require.True(t, Verify([]byte("s3cret"), r.body, r.header.Get(SignatureHeader)))
	}
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "done"}))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "webhook", "outcome": "no_consent"}))
	require.Equal(t, int64(3), committed(t, e, "sillage.workflow"), "every record committed")

	// A restart of the consumer group delivers nothing again.
	_, reg2, stop2 := e.consumer(t, srv.URL, 3)
	e.produce(t, sampleTransition("t-4", "dan", true))
	require.Eventually(t, func() bool {
		return counter(t, reg2, "sillage_workflow_actions_total", map[string]string{"outcome": "done"}) == 1 &&
			committed(t, e, "sillage.workflow") == 4
	}, 10*time.Second, 10*time.Millisecond)
	stop2()
	require.Len(t, srv.received(), 3)
	require.Equal(t, "t-4", srv.received()[2].header.Get(IdempotencyKeyHeader))
}

func TestConsumerGivesUpToFailedTopic(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t, http.StatusBadGateway)
	e.produce(t, sampleTransition("t-9", "erin", true))
	_, reg, stop := e.consumer(t, srv.URL, 3)
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"outcome": "failed"}) == 1 &&
			committed(t, e, "sillage.workflow") == 1
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	require.Len(t, srv.received(), 3)
	require.Equal(t, int64(1), committed(t, e, "sillage.workflow"))

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(testTopics().Failed),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	require.NoError(t, fs.Err())
	recs := fs.Records()
	require.Len(t, recs, 1)
	f, err := e.serde.DecodeFailed(ctx, recs[0].Value)
	require.NoError(t, err)
	require.Equal(t, "workflow", f.Stage)
	require.Equal(t, "webhook_failed", f.Reason)
	require.Equal(t, "t-9", f.EventID)
	require.Contains(t, f.Detail, "after 3 attempt(s)")
	require.Contains(t, f.Detail, "502 Bad Gateway")
	require.Equal(t, failureID("t-9", "remind", "0"), f.ID)
	tr, err := e.serde.DecodeMembership(ctx, f.Payload)
	require.NoError(t, err)
	require.Equal(t, "t-9", tr.ID)
}

func TestConsumerUndecodableRecord(t *testing.T) {
	e := newEnv(t)
	srv := newHookServer(t)
	require.NoError(t, e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: testTopics().Membership, Value: []byte("junk")}).FirstErr())
	_, reg, stop := e.consumer(t, srv.URL, 1)
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "decode", "outcome": "failed"}) == 1 &&
			committed(t, e, "sillage.workflow") == 1
	}, 10*time.Second, 10*time.Millisecond)
	stop()
	require.Empty(t, srv.received())
	require.Equal(t, int64(1), committed(t, e, "sillage.workflow"))
}
