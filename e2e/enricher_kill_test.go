//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/schemas"
)

// enricherPartitions is the partition count of every topic of the test.
const enricherPartitions = 12

// sessionGap is the enricher's session timeout in the test: the sample
// spans 2h50m, so with one minute of inactivity 1,800 of its 4,504
// visitors have more than one session, and many sessions cross the crash.
const sessionGap = time.Minute

// TestEnricherKilledMidReplayOnRealKafka runs the enricher alone against
// real Apache Kafka on 12 partitions, twice over the REES46 sample produced
// to the raw topic as the collector would (Avro, keyed by anonymous id else
// user id, the rows' event times):
//
//   - reference: one instance, no crash, the whole input produced first;
//   - crash: two instances in one consumer group while the input is
//     replayed at about 1,100 events/s; one of them is killed with SIGKILL
//     once about half of the input is enriched and committed, and started
//     again on the same data dir and instance id.
//
// The enricher's session timeout is one minute, so that the sample forms 8,077
// sessions. Instance a keeps running throughout. Both enriched topics, read
// with read_committed, hold every input event exactly once (by event id)
// and nothing else, no event failed, the reference's sessions are those the
// rows give by the timeout rule, and each event has the same profile id,
// session id, session index and event time in both runs. About 65s, most of
// it the group's session timeout (45s) before the killed member's
// partitions move.
func TestEnricherKilledMidReplayOnRealKafka(t *testing.T) {
	brokers := realBrokers(t)
	rows, err := replay.ReadCSV(reesFile)
	require.NoError(t, err)
	require.Len(t, rows, 17434)
	id := randomID(t)
	began := time.Now()

	// Reference run.
	refPrefix := "sillage.ekref" + id + "."
	createEnricherTopics(t, brokers, refPrefix)
	require.NoError(t, produceRaw(brokers, refPrefix, rawRecords(t, refPrefix, rows), 0))
	ref := startEnricher(t, brokers, refPrefix, "ref", t.TempDir(), id)
	waitEnriched(t, brokers, refPrefix, 2*time.Minute)
	ref.stop(t)
	refTook := time.Since(began)
	refOut := readEnriched(t, brokers, refPrefix, rows)
	sessions := checkSessions(t, rows, sessionGap, refOut)

	// Crash run: two instances, one killed mid-replay and restarted.
	crashBegan := time.Now()
	prefix := "sillage.ekcrash" + id + "."
	createEnricherTopics(t, brokers, prefix)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startEnricher(t, brokers, prefix, "a", dirA, id)
	b := startEnricher(t, brokers, prefix, "b", dirB, id)
	recs := rawRecords(t, prefix, rows)
	produced := make(chan error, 1)
	go func() { produced <- produceRaw(brokers, prefix, recs, 1100) }()
	token := "ek-admin-token-" + id
	committedOut := func(p *proc) float64 {
		return metricValueAuth(t, p.Admin, token, `sillage_stream_records_out_total{stage="enricher"}`)
	}
	var atKill, bAtKill float64
	require.Eventually(t, func() bool {
		bAtKill = committedOut(b)
		atKill = committedOut(a) + bAtKill
		return bAtKill > 0 && atKill >= float64(len(rows))/2
	}, 2*time.Minute, 20*time.Millisecond, "half of the input enriched, by both instances")
	b.kill()
	killedAt := time.Now()
	t.Logf("killed instance b with SIGKILL: %.0f events committed by both (%.0f by b); restarting it", atKill, bAtKill)
	b = startEnricher(t, brokers, prefix, "b", dirB, id)
	require.NoError(t, <-produced)
	waitEnriched(t, brokers, prefix, 2*time.Minute)
	recovered := time.Since(killedAt)
	t.Logf("restarted b: %.0f store records restored from changelogs, %.0f transaction aborts; a: %.0f aborts",
		metricValueAuth(t, b.Admin, token, `sillage_stream_restored_records_total{stage="enricher"}`),
		metricValueAuth(t, b.Admin, token, `sillage_stream_transaction_aborts_total{stage="enricher"}`),
		metricValueAuth(t, a.Admin, token, `sillage_stream_transaction_aborts_total{stage="enricher"}`))
	select {
	case <-a.done:
		t.Fatalf("instance a stopped while b was killed and restarted:\n%s", a.Log())
	default:
	}
	a.stop(t)
	b.stop(t)
	crashTook := time.Since(crashBegan)
	crashOut := readEnriched(t, brokers, prefix, rows)

	// The same profile, session and event time for every event.
	var differ []string
	for _, r := range rows {
		want, got := refOut[r.MessageID], crashOut[r.MessageID]
		if want.ProfileID != got.ProfileID || want.SessionID != got.SessionID ||
			want.SessionIndex != got.SessionIndex || want.EventTime != got.EventTime {
			differ = append(differ, fmt.Sprintf("line %d (%s): reference profile %s session %s #%d at %d, crash run profile %s session %s #%d at %d",
				r.Line, r.MessageID, want.ProfileID, want.SessionID, want.SessionIndex, want.EventTime,
				got.ProfileID, got.SessionID, got.SessionIndex, got.EventTime))
		}
	}
	require.Empty(t, firstN(differ, 10), "%d of %d events differ between the runs", len(differ), len(rows))
	profiles := map[string]bool{}
	for _, e := range refOut {
		profiles[e.ProfileID] = true
	}
	t.Logf("%d events, %d profiles, %d sessions, identical in both runs; reference run %s, crash run %s (%s from the kill to the last event committed), test %s",
		len(rows), len(profiles), sessions, refTook.Round(time.Millisecond), crashTook.Round(time.Millisecond),
		recovered.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// startEnricher starts one enricher instance on prefix's topics.
func startEnricher(t *testing.T, brokers []string, prefix, instance, dataDir, id string) *proc {
	t.Helper()
	return startSillage(t, freeAddr(t), freeAddr(t), "-target", "enricher",
		"-kafka.brokers", strings.Join(brokers, ","), "-kafka.topic-prefix", prefix,
		"-kafka.partitions", fmt.Sprint(enricherPartitions), "-kafka.replication-factor", "1",
		"-instance.id", instance, "-data.dir", dataDir, "-admin.token", "ek-admin-token-"+id,
		"-enricher.session-timeout", sessionGap.String())
}

func enricherKafka(brokers []string, prefix string) kafka.Config {
	c := kafka.DefaultConfig()
	c.Brokers = brokers
	c.TopicPrefix = prefix
	c.Partitions = enricherPartitions
	c.ReplicationFactor = 1
	return c
}

// createEnricherTopics creates prefix's event topics with 12 partitions.
func createEnricherTopics(t *testing.T, brokers []string, prefix string) {
	t.Helper()
	c := enricherKafka(brokers, prefix)
	cl, err := kgo.NewClient(c.Opts("e2e-admin")...)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, cl, c.ReplicationFactor, true, c.Specs()...))
}

// browserAgents are real browsers' User-Agent headers; each REES46 user
// gets one (by a hash of the user id), as each shopper has a browser.
var browserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
}

// rawEvent maps a REES46 row to the raw event the collector makes of the
// track call internal/replay sends for it: the row's event time, the user
// id, every consent, a browser's agent and IP, received now.
func rawEvent(t *testing.T, r replay.Row, now time.Time) *schemas.RawEvent {
	t.Helper()
	name, ok := replay.EventName(r.EventType)
	require.True(t, ok, "line %d: event type %q", r.Line, r.EventType)
	props := map[string]any{
		"product_id": r.ProductID, "category_id": r.CategoryID, "category_code": r.CategoryCode,
		"brand": r.Brand, "price": r.Price, "currency": "USD", "quantity": 1, "user_session": r.UserSession,
	}
	if r.EventType == "purchase" {
		props["order_id"] = r.OrderID()
		props["revenue"] = r.Price
	}
	pj, err := json.Marshal(props)
	require.NoError(t, err)
	h := fnv.New32a()
	h.Write([]byte(r.UserID))
	n := h.Sum32()
	all := schemas.Consent{Necessary: true, Analytics: true, Personalisation: true, Marketing: true, Advertising: true}
	return &schemas.RawEvent{
		EventID: r.MessageID, Source: "rees46", Type: "track", Event: name, UserID: r.UserID,
		Timestamp: r.EventTime.UnixMilli(), ReceivedAt: now.UnixMilli(),
		UserAgent: browserAgents[n%uint32(len(browserAgents))], IP: fmt.Sprintf("198.51.100.%d", n%250+1),
		LibraryName: "sillage-replay", LibraryVersion: "1", ContextJSON: "{}", PropertiesJSON: string(pj),
		Consent:       all,
		ConsentSignal: schemas.ConsentSignal{Origin: "tag", CategoriesJSON: `{"analytics":true,"marketing":true,"personalisation":true,"advertising":true,"necessary":true}`},
	}
}

// rawRecords encodes rows as the raw records of prefix's raw topic, in
// file order, keyed as the collector keys them.
func rawRecords(t *testing.T, prefix string, rows []replay.Row) []*kgo.Record {
	t.Helper()
	serde := testSerde(t, prefix)
	topic := enricherKafka(nil, prefix).Topics().Raw
	now := time.Now()
	recs := make([]*kgo.Record, len(rows))
	for i, r := range rows {
		raw := rawEvent(t, r, now)
		v, err := serde.Encode(schemas.KindRaw, raw, nil)
		require.NoError(t, err, "encoding line %d", r.Line)
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(raw.Key()), Value: v}
	}
	return recs
}

// produceRaw produces recs in order, at about rate records/s (0: as fast
// as possible), each chunk acknowledged by all in-sync replicas before the
// next, so that every partition gets its records in file order. It does not
// touch t: it may run beside the test.
func produceRaw(brokers []string, prefix string, recs []*kgo.Record, rate float64) error {
	cl, err := kgo.NewClient(enricherKafka(brokers, prefix).ProducerOpts("e2e-replay")...)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chunk, every := len(recs), time.Duration(0)
	if rate > 0 {
		every = 100 * time.Millisecond
		chunk = max(1, int(rate/10))
	}
	start := time.Now()
	for i := 0; i < len(recs); i += chunk {
		part := recs[i:min(i+chunk, len(recs))]
		if err := cl.ProduceSync(ctx, part...).FirstErr(); err != nil {
			return fmt.Errorf("producing records %d..%d: %w", i, i+len(part), err)
		}
		if every > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i/chunk+1) * every)))
		}
	}
	return nil
}

// waitEnriched waits until the enricher's consumer group has committed the
// end of every raw partition and no transaction is open on the enriched
// topic (its last stable offsets are its high watermarks). A transaction
// commits its offsets and its outputs together, but the commit markers
// reach the offsets topic and each output partition one by one: the group's
// offsets can show before the last outputs are readable.
func waitEnriched(t *testing.T, brokers []string, prefix string, timeout time.Duration) {
	t.Helper()
	c := enricherKafka(brokers, prefix)
	cl, err := kgo.NewClient(c.Opts("e2e-watch")...)
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, enriched := c.Topics().Raw, c.Topics().Enriched
	for {
		ends, err1 := adm.ListEndOffsets(ctx, raw)
		offs, err2 := adm.FetchOffsets(ctx, prefix+"enricher")
		hwm, err3 := adm.ListEndOffsets(ctx, enriched)
		lso, err4 := adm.ListCommittedOffsets(ctx, enriched)
		if errors.Join(err1, err2, err3, err4) == nil && committedAllRaw(offs, ends) && stable(hwm, lso) {
			return
		}
		select {
		case <-ctx.Done():
			logOffsets(t, brokers, raw, enriched)
			t.Fatalf("the enricher did not commit the end of %s within %s (%v)", raw, timeout, errors.Join(err1, err2, err3, err4))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stable reports whether every partition's last stable offset is its high
// watermark: no transaction is open there.
func stable(hwm, lso kadm.ListedOffsets) bool {
	ok := true
	hwm.Each(func(h kadm.ListedOffset) {
		if l, found := lso.Lookup(h.Topic, h.Partition); !found || l.Offset != h.Offset {
			ok = false
		}
	})
	return ok
}

func committedAllRaw(offs kadm.OffsetResponses, ends kadm.ListedOffsets) bool {
	ok := true
	ends.Each(func(l kadm.ListedOffset) {
		o, found := offs.Lookup(l.Topic, l.Partition)
		if l.Offset > 0 && (!found || o.At < l.Offset) {
			ok = false
		}
	})
	return ok
}

// readEnriched reads prefix's enriched topic with read_committed, requires
// every row's event exactly once and nothing else, and an empty failed
// topic, and returns the events by event id.
func readEnriched(t *testing.T, brokers []string, prefix string, rows []replay.Row) map[string]*schemas.EnrichedEvent {
	t.Helper()
	serde := testSerde(t, prefix)
	recs := readTopic(t, brokers, prefix+"events.enriched")
	byID := make(map[string]*schemas.EnrichedEvent, len(recs))
	var twice []string
	for _, r := range recs {
		e, err := serde.DecodeEnriched(context.Background(), r.Value)
		require.NoError(t, err)
		require.Equal(t, e.ProfileID, string(r.Key), "the enriched record's key is its profile id")
		if byID[e.Raw.EventID] != nil {
			twice = append(twice, e.Raw.EventID)
		}
		byID[e.Raw.EventID] = e
	}
	require.Empty(t, firstN(twice, 10), "%s: %d records for %d distinct events", prefix, len(recs), len(byID))
	var missing []string
	want := make(map[string]bool, len(rows))
	for _, r := range rows {
		want[r.MessageID] = true
		if byID[r.MessageID] == nil {
			missing = append(missing, fmt.Sprintf("line %d (%s)", r.Line, r.MessageID))
		}
	}
	require.Empty(t, firstN(missing, 10), "%s: %d of %d events missing", prefix, len(missing), len(rows))
	for id := range byID {
		require.True(t, want[id], "%s: enriched event %s is not an input event", prefix, id)
	}
	require.Empty(t, readTopic(t, brokers, prefix+"events.failed"), "%s: no event failed", prefix)
	return byID
}

// checkSessions checks the reference run's sessions against the rule
// applied to the rows alone: a visitor's event more than the session
// timeout after its previous one starts the visitor's next session. The
// sample is in event-time order, so no event is late.
func checkSessions(t *testing.T, rows []replay.Row, gap time.Duration, events map[string]*schemas.EnrichedEvent) (sessions int) {
	t.Helper()
	type visitor struct {
		last  time.Time
		index int32
	}
	visitors := map[string]*visitor{}
	ids := map[string]string{} // "user/index" -> session id
	seen := map[string]bool{}
	for i, r := range rows {
		require.True(t, i == 0 || !r.EventTime.Before(rows[i-1].EventTime), "line %d: the sample is in event-time order", r.Line)
		v := visitors[r.UserID]
		switch {
		case v == nil:
			v = &visitor{index: 1}
			visitors[r.UserID] = v
		case r.EventTime.Sub(v.last) > gap:
			v.index++
		}
		v.last = r.EventTime
		e := events[r.MessageID]
		require.Equal(t, r.UserID, e.ProfileID, "line %d: the profile is the user id", r.Line)
		require.Equal(t, v.index, e.SessionIndex, "line %d: session index of user %s", r.Line, r.UserID)
		key := fmt.Sprintf("%s/%d", r.UserID, v.index)
		if id, ok := ids[key]; ok {
			require.Equal(t, id, e.SessionID, "line %d: same session as the user's previous event", r.Line)
		} else {
			require.NotEmpty(t, e.SessionID, "line %d: a session", r.Line)
			require.False(t, seen[e.SessionID], "line %d: session %s started twice", r.Line, e.SessionID)
			ids[key], seen[e.SessionID] = e.SessionID, true
		}
	}
	return len(ids)
}

func firstN(s []string, n int) []string {
	sort.Strings(s)
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}
