package segmenter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

var t0 = time.Date(2019, 10, 1, 0, 0, 0, 0, time.UTC)

func testTopics() kafka.Topics { return kafka.DefaultConfig().Topics() }

func testSerde(tb testing.TB) *schemas.Serde {
	tb.Helper()
	tp := testTopics()
	topics := map[schemas.Kind]string{
		schemas.KindRaw: tp.Raw, schemas.KindEnriched: tp.Enriched,
		schemas.KindMembership: tp.Membership, schemas.KindFailed: tp.Failed,
	}
	s, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(tb, err)
	return s
}

// harness drives one partition's task with hand-built enriched records.
type harness struct {
	tb     testing.TB
	cfg    Config
	defs   *Definitions
	serde  *schemas.Serde
	reg    *prometheus.Registry
	seg    *Segmenter
	store  *stream.Store
	task   *task
	now    time.Time
	offset int64
	ids    int
}

func testConfig() Config {
	c := DefaultConfig()
	c.AllowedLateness = 0
	return c
}

func newHarness(tb testing.TB, cfg Config, defsYAML string) *harness {
	tb.Helper()
	var defs *Definitions
	var err error
	if defsYAML == "" {
		defs, err = LoadDefinitions("")
	} else {
		defs, err = ParseDefinitions([]byte(defsYAML))
	}
	require.NoError(tb, err)
	h := &harness{tb: tb, cfg: cfg, defs: defs, serde: testSerde(tb), now: time.Now()}
	h.start(stream.NewTestStore(StoreName))
	return h
}

// start builds a fresh Segmenter (as a restarted process would) and a task
// on store.
func (h *harness) start(store *stream.Store) {
	h.tb.Helper()
	h.reg = prometheus.NewRegistry()
	seg, err := New(h.cfg, Deps{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: h.reg, Serde: h.serde,
		Topics: testTopics(), Clock: func() time.Time { return h.now }, Definitions: h.defs,
	})
	require.NoError(h.tb, err)
	tk, err := seg.NewTask(context.Background(), stream.TopicPartition{Topic: testTopics().Enriched}, map[string]*stream.Store{StoreName: store})
	require.NoError(h.tb, err)
	h.seg, h.store, h.task = seg, store, tk.(*task)
}

// restart simulates a crash after the committed changelog recs: a new
// process restores a new store from them.
func (h *harness) restart(committed []*kgo.Record) {
	store := stream.NewTestStore(StoreName)
	store.Restore(committed...)
	h.start(store)
}

type evOpt func(*schemas.EnrichedEvent)

func noConsent(e *schemas.EnrichedEvent) { e.Raw.Consent = schemas.NecessaryOnly() }
func bot(e *schemas.EnrichedEvent)       { e.Bot = true }
func withID(id string) evOpt             { return func(e *schemas.EnrichedEvent) { e.Raw.EventID = id } }
func traits(js string) evOpt             { return func(e *schemas.EnrichedEvent) { e.Raw.TraitsJSON = js } }
func props(js string) evOpt              { return func(e *schemas.EnrichedEvent) { e.Raw.PropertiesJSON = js } }
func consent(c schemas.Consent) evOpt    { return func(e *schemas.EnrichedEvent) { e.Raw.Consent = c } }
func at(d time.Duration) time.Time       { return t0.Add(d) }
func fullConsent() schemas.Consent {
	return schemas.Consent{Necessary: true, Analytics: true, Personalisation: true, Marketing: true, Advertising: true}
}

func (h *harness) event(profile, typ, name string, when time.Time, opts ...evOpt) *schemas.EnrichedEvent {
	h.ids++
	e := &schemas.EnrichedEvent{
		Raw: schemas.RawEvent{
			EventID: fmt.Sprintf("ev-%d", h.ids), Source: "test", Type: typ, Event: name,
			UserID: profile, Timestamp: when.UnixMilli(), ReceivedAt: when.UnixMilli(), Consent: fullConsent(),
		},
		ProfileID: profile, EventTime: when.UnixMilli(), EnrichedAt: when.UnixMilli(),
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

func (h *harness) record(e *schemas.EnrichedEvent) *kgo.Record {
	h.tb.Helper()
	v, err := h.serde.Encode(schemas.KindEnriched, e, nil)
	require.NoError(h.tb, err)
	r := &kgo.Record{Topic: testTopics().Enriched, Key: []byte(e.ProfileID), Value: v, Offset: h.offset}
	h.offset++
	return r
}

// process feeds events and returns what the task produced. The states
// they changed are then written to the store, as at the end of a batch
// (tick also fires the timers).
func (h *harness) process(evs ...*schemas.EnrichedEvent) []*kgo.Record {
	h.tb.Helper()
	var out stream.Output
	for _, e := range evs {
		require.NoError(h.tb, h.task.Process(context.Background(), h.record(e), &out))
	}
	require.NoError(h.tb, h.task.flush())
	return out.Records()
}

func (h *harness) processRecord(r *kgo.Record) []*kgo.Record {
	h.tb.Helper()
	var out stream.Output
	require.NoError(h.tb, h.task.Process(context.Background(), r, &out))
	require.NoError(h.tb, h.task.flush())
	return out.Records()
}

// tick advances the wall clock by d and ticks.
func (h *harness) tick(d time.Duration) []*kgo.Record {
	h.tb.Helper()
	h.now = h.now.Add(d)
	var out stream.Output
	require.NoError(h.tb, h.task.Tick(context.Background(), h.now, &out))
	return out.Records()
}

func (h *harness) transitions(recs []*kgo.Record) []*schemas.MembershipTransition {
	h.tb.Helper()
	var out []*schemas.MembershipTransition
	for _, r := range recs {
		require.Equal(h.tb, testTopics().Membership, r.Topic)
		mt, err := h.serde.DecodeMembership(context.Background(), r.Value)
		require.NoError(h.tb, err)
		require.Equal(h.tb, mt.ProfileID, string(r.Key))
		out = append(out, mt)
	}
	return out
}

func (h *harness) gauge(name string) float64 {
	h.tb.Helper()
	switch name {
	case "timers":
		return metricValue(h.tb, h.seg.m.timersPending)
	case "profiles":
		return metricValue(h.tb, h.seg.m.profiles)
	}
	h.tb.Fatalf("no gauge %s", name)
	return 0
}

// metricValue reads a gauge or counter.
func metricValue(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	var d dto.Metric
	require.NoError(tb, m.Write(&d))
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// profileKeys lists the profiles with state.
func (h *harness) profileKeys() []string {
	var keys []string
	h.store.Range(func(k string, _ []byte) bool {
		if k != offsetKey {
			keys = append(keys, k)
		}
		return true
	})
	return keys
}

type want struct {
	segment, profile string
	tr               schemas.Transition
	at               time.Time
}

func requireTransitions(tb testing.TB, got []*schemas.MembershipTransition, wants ...want) {
	tb.Helper()
	require.Len(tb, got, len(wants), "transitions: %+v", got)
	for i, w := range wants {
		require.Equal(tb, w.segment, got[i].Segment, "transition %d", i)
		require.Equal(tb, w.profile, got[i].ProfileID, "transition %d", i)
		require.Equal(tb, w.tr, got[i].Transition, "transition %d", i)
		require.Equal(tb, w.at.UnixMilli(), got[i].EventTime, "transition %d event time", i)
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }
