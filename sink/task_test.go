package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

func TestWriteEventsToHourPartitions(t *testing.T) {
	e := newEnv(t, nil)
	tk := e.task(testTopics.Enriched, 3)
	base := time.Date(2024, 3, 1, 10, 58, 0, 0, time.UTC)
	// 6 events a minute apart: 10:58, 10:59 | 11:00 … 11:03
	e.process(tk, eventRecords(t, e.serde, 3, 100, 6, base, time.Minute)...)
	require.Equal(t, int64(-1), tk.DurableOffset())
	require.Empty(t, e.files(TableEvents))

	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(106), tk.DurableOffset())
	require.Equal(t, []string{
		"events/dt=2024-03-01/hr=10/sillage.events.enriched-p3-100-101.parquet",
		"events/dt=2024-03-01/hr=11/sillage.events.enriched-p3-102-105.parquet",
	}, e.files(TableEvents))
	require.Empty(t, tempFiles(t, e.dir))

	rows := e.events()
	require.Len(t, rows, 6)
	r := rows[0]
	ev := testEvent(100, base)
	require.Equal(t, "evt-000100", r.EventID)
	require.Equal(t, "track", r.Type)
	require.Equal(t, "Product Viewed", r.Event)
	require.Equal(t, ev.Raw.AnonymousID, r.AnonymousID)
	require.Equal(t, ev.ProfileID, r.ProfileID)
	require.Equal(t, ev.SessionID, r.SessionID)
	require.Equal(t, base.UnixMilli(), r.EventTime)
	require.Equal(t, ev.Raw.ReceivedAt, r.ReceivedAt)
	require.Equal(t, ev.Raw.SentAt, r.SentAt)
	require.Equal(t, ev.Raw.Timestamp, r.OriginalTimestamp)
	require.Equal(t, "203.0.113.0", r.ContextIP)
	require.Equal(t, "/p/42", r.PagePath)
	require.Equal(t, "FR", r.GeoCountryCode)
	require.Equal(t, 45.75, r.GeoLatitude)
	require.Equal(t, "Firefox", r.UABrowser)
	require.Equal(t, "news", r.CampaignSource)
	require.JSONEq(t, ev.Raw.PropertiesJSON, r.Properties)
	require.Equal(t, "42", r.ProductID)
	require.Equal(t, 19.5, *r.Price)
	require.Equal(t, "EUR", r.Currency)
	require.Equal(t, int64(2), *r.Quantity)
	require.Nil(t, r.Revenue)
	require.True(t, r.ConsentNecessary)
	require.True(t, r.ConsentAnalytics)
	require.True(t, r.ConsentMarketing) // offset 100 is even
	require.False(t, rows[1].ConsentMarketing)
	require.False(t, r.ConsentPersonalisation)
	require.False(t, r.ConsentAdvertising)
	require.Equal(t, "tag", r.ConsentOrigin)

	require.Equal(t, 6.0, metricValue(t, e.sink.metrics.rowsWritten.WithLabelValues(TableEvents)))
	require.Equal(t, 2.0, metricValue(t, e.sink.metrics.filesWritten.WithLabelValues(TableEvents)))
	require.Positive(t, metricValue(t, e.sink.metrics.bytesWritten))
	require.Equal(t, 1.0, metricValue(t, e.sink.metrics.flushDuration))
	count, err := CountRowsAt(context.Background(), e.dir, TableEvents)
	require.NoError(t, err)
	require.Equal(t, int64(6), count)
}

// nullView reads the nullable columns as pointers to tell NULL from "".
type nullView struct {
	UserID   *string  `parquet:"user_id,optional"`
	SentAt   *int64   `parquet:"sent_at,optional,timestamp(millisecond:utc)"`
	Price    *float64 `parquet:"price,optional"`
	OrderID  *string  `parquet:"order_id,optional"`
	Traits   *string  `parquet:"traits,optional,json"`
	GeoLat   *float64 `parquet:"geo_latitude,optional"`
	Currency *string  `parquet:"currency,optional"`
}

func TestEventColumnsSchemaAndNulls(t *testing.T) {
	e := newEnv(t, nil)
	tk := e.task(testTopics.Enriched, 0)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ev := testEvent(1, at)
	ev.Raw.SentAt = 0
	ev.Raw.PropertiesJSON = `{"path":"/"}`
	ev.Geo = schemas.Geo{}
	e.process(tk, rec(testTopics.Enriched, 0, 0, encode(t, e.serde, schemas.KindEnriched, ev)))
	require.NoError(t, tk.Flush(context.Background()))
	files := e.files(TableEvents)
	require.Len(t, files, 1)

	data, err := readObject(context.Background(), e.store, files[0])
	require.NoError(t, err)
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	cols := map[string]parquet.Field{}
	for _, f := range pf.Schema().Fields() {
		cols[f.Name()] = f
	}
	for _, name := range []string{"event_id", "type", "event", "user_id", "anonymous_id", "profile_id",
		"session_id", "session_index", "event_time", "received_at", "sent_at", "original_timestamp",
		"source", "context_ip", "context_user_agent", "page_url", "page_path", "page_referrer", "page_title",
		"locale", "geo_country", "ua_browser", "bot", "referrer_medium", "campaign_source", "properties",
		"traits", "product_id", "price", "currency", "quantity", "order_id", "revenue", "consent_origin"} {
		require.Contains(t, cols, name)
	}
	for _, c := range schemas.ConsentCategories {
		f, ok := cols["consent_"+c]
		require.True(t, ok, c)
		require.Equal(t, "BOOLEAN", f.Type().Kind().String())
		require.True(t, f.Required())
	}
	require.Equal(t, "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)", cols["event_time"].Type().LogicalType().String())
	require.Equal(t, "JSON", cols["properties"].Type().LogicalType().String())
	require.Equal(t, "DOUBLE", cols["price"].Type().Kind().String())
	require.True(t, cols["price"].Optional())
	v, ok := pf.Lookup("sillage.first_offset")
	require.True(t, ok)
	require.Equal(t, "0", v)

	got, err := parquet.Read[nullView](bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Nil(t, got[0].UserID, "empty user id is NULL")
	require.Nil(t, got[0].SentAt, "absent sent_at is NULL")
	require.Nil(t, got[0].Price, "no price property is NULL")
	require.Nil(t, got[0].OrderID)
	require.Nil(t, got[0].Currency)
	require.Nil(t, got[0].Traits, "empty traits {} is NULL")
	require.Nil(t, got[0].GeoLat)
}

func TestSegmentsAndFailedTopics(t *testing.T) {
	e := newEnv(t, nil)
	at := time.Date(2024, 3, 2, 23, 30, 0, 0, time.UTC)
	seg := e.task(testTopics.Membership, 1)
	tr := &schemas.MembershipTransition{ID: "tr-1", Segment: "cart_abandoners", ProfileID: "prof-1",
		Transition: schemas.Entered, Reason: "no order within 30m", EventTime: at.UnixMilli(),
		EvaluatedAt: at.UnixMilli() + 5, Consent: schemas.Consent{Necessary: true, Marketing: true}}
	e.process(seg, rec(testTopics.Membership, 1, 7, encode(t, e.serde, schemas.KindMembership, tr)))
	require.NoError(t, seg.Flush(context.Background()))
	require.Equal(t, int64(8), seg.DurableOffset())

	fl := e.task(testTopics.Failed, 2)
	fe := &schemas.FailedEvent{ID: "enricher:x", Stage: "enricher", Reason: "invalid_timestamp", Detail: "year 3000",
		EventID: "e1", Source: "web", SourceTopic: testTopics.Raw, SourcePartition: 4, SourceOffset: 99,
		Payload: []byte{1, 2, 3}, FailedAt: at.Add(time.Hour).UnixMilli()}
	e.process(fl, rec(testTopics.Failed, 2, 0, encode(t, e.serde, schemas.KindFailed, fe)))
	require.NoError(t, fl.Flush(context.Background()))

	require.Equal(t, []string{"segments/dt=2024-03-02/hr=23/sillage.segments.membership-p1-7-7.parquet"}, e.files(TableSegments))
	require.Equal(t, []string{"failed/dt=2024-03-03/hr=00/sillage.events.failed-p2-0-0.parquet"}, e.files(TableFailed))

	segs, err := ReadSegments(context.Background(), e.dir)
	require.NoError(t, err)
	require.Equal(t, []SegmentRow{{ID: "tr-1", Segment: "cart_abandoners", ProfileID: "prof-1", Transition: "ENTERED",
		Reason: "no order within 30m", EventTime: at.UnixMilli(), EvaluatedAt: at.UnixMilli() + 5,
		ConsentNecessary: true, ConsentMarketing: true}}, segs)
	failed, err := ReadFailed(context.Background(), e.dir)
	require.NoError(t, err)
	require.Equal(t, []FailedRow{{ID: "enricher:x", Stage: "enricher", Reason: "invalid_timestamp", Detail: "year 3000",
		EventID: "e1", Source: "web", SourceTopic: testTopics.Raw, SourcePartition: 4, SourceOffset: 99,
		Payload: []byte{1, 2, 3}, FailedAt: fe.FailedAt}}, failed)
}

func TestCorrectionsTable(t *testing.T) {
	e := newEnv(t, nil)
	at := time.Date(2024, 3, 2, 10, 15, 0, 0, time.UTC)
	ct := e.task(testTopics.Corrections, 5)
	c := &schemas.Correction{ID: schemas.CorrectionID("PROFILES_MERGED", "anon-1", "user-1", "m-9"), Kind: schemas.ProfilesMerged,
		ProfileID: "user-1", From: "anon-1", Into: "user-1", VisitorID: "anon-1", CauseEventID: "m-9", Source: "web",
		EventTime: at.UnixMilli(), CorrectedAt: at.UnixMilli() + 40}
	e.process(ct, rec(testTopics.Corrections, 5, 3, encode(t, e.serde, schemas.KindCorrection, c)))
	require.NoError(t, ct.Flush(context.Background()))
	require.Equal(t, []string{"corrections/dt=2024-03-02/hr=10/sillage.events.corrections-p5-3-3.parquet"}, e.files(TableCorrections))
	rows, err := ReadCorrections(context.Background(), e.dir)
	require.NoError(t, err)
	require.Equal(t, []CorrectionRow{{ID: c.ID, Kind: "PROFILES_MERGED", ProfileID: "user-1", FromID: "anon-1", IntoID: "user-1",
		VisitorID: "anon-1", CauseEventID: "m-9", Source: "web", EventTime: c.EventTime, CorrectedAt: c.CorrectedAt}}, rows)
	require.Contains(t, e.sink.StreamConfig().Topics, testTopics.Corrections)
}

func TestUndecodableRecordsGoToFailedTable(t *testing.T) {
	e := newEnv(t, nil)
	good := testEvent(1, time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	unknownID := append([]byte{0, 0, 0, 3, 0xE7}, 1, 2, 3) // schema id 999
	truncated := encode(t, e.serde, schemas.KindEnriched, good)[:20]
	cases := []struct {
		name, reason string
		value        []byte
	}{
		{"not avro", "undecodable", []byte(`{"json":true}`)},
		{"unknown schema id", "undecodable", unknownID},
		{"truncated", "undecodable", truncated},
		{"wrong contract", "undecodable", encode(t, e.serde, schemas.KindMembership, &schemas.MembershipTransition{ID: "x", Transition: schemas.Entered})},
		{"tombstone", "empty_value", nil},
	}
	tk := e.task(testTopics.Enriched, 5)
	for i, c := range cases {
		e.process(tk, rec(testTopics.Enriched, 5, int64(i), c.value))
	}
	e.process(tk, rec(testTopics.Enriched, 5, int64(len(cases)), encode(t, e.serde, schemas.KindEnriched, good)))
	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(len(cases)+1), tk.DurableOffset(), "failed rows are durable like any other")

	require.Len(t, e.events(), 1)
	failed, err := ReadTable[FailedRow](context.Background(), e.store, TableFailed)
	require.NoError(t, err)
	require.Len(t, failed, len(cases))
	for i, c := range cases {
		f := failed[i]
		require.Equal(t, fmt.Sprintf("sink:%s:5:%d", testTopics.Enriched, i), f.ID, c.name)
		require.Equal(t, "sink", f.Stage)
		require.Equal(t, c.reason, f.Reason, c.name)
		require.Contains(t, f.Detail, "decoding a events record", c.name)
		require.Equal(t, testTopics.Enriched, f.SourceTopic)
		require.Equal(t, int32(5), f.SourcePartition)
		require.Equal(t, int64(i), f.SourceOffset)
		require.True(t, bytes.Equal(c.value, f.Payload), c.name)
	}
	require.Equal(t, float64(len(cases)), metricValue(t, e.sink.metrics.decodeFailures.WithLabelValues(TableEvents)))
	// Failed rows from the enriched topic are named after it, inside failed/.
	require.Equal(t, []string{"failed/dt=2024-03-01/hr=12/sillage.events.enriched-p5-0-4.parquet"}, e.files(TableFailed))
}

func TestRollTriggers(t *testing.T) {
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		cfg     func(*Config)
		records int
		step    time.Duration
		tick    time.Duration // advance the clock and tick after the records
		want    int64         // durable offset afterwards
	}{
		{"below every limit", nil, 5, time.Second, 0, -1},
		{"max rows", func(c *Config) { c.MaxRows = 4 }, 10, time.Second, 0, 8},
		{"max bytes", func(c *Config) { c.MaxBytes = 1 }, 3, time.Second, 0, 3},
		{"max partitions", func(c *Config) { c.MaxPartitions = 2 }, 3, time.Hour, 0, 2},
		{"max age not reached", func(c *Config) { c.MaxAge = time.Minute }, 3, time.Second, 59 * time.Second, -1},
		{"max age", func(c *Config) { c.MaxAge = time.Minute }, 3, time.Second, time.Minute, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg)
			tk := e.task(testTopics.Enriched, 0)
			e.process(tk, eventRecords(t, e.serde, 0, 0, c.records, base, c.step)...)
			if c.tick > 0 {
				e.now = e.now.Add(c.tick)
				require.NoError(t, tk.Tick(context.Background(), e.now, &stream.Output{}))
			}
			require.Equal(t, c.want, tk.DurableOffset())
		})
	}
}

// gateStore wraps a store to observe and fail Puts.
type gateStore struct {
	ObjectStore
	onPut func(key string) error
}

func (g *gateStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := g.onPut(key); err != nil {
		return 0, err
	}
	return g.ObjectStore.Put(ctx, key, r)
}

func TestDurableOffsetOnlyAfterFilesAreStored(t *testing.T) {
	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	require.NoError(t, err)
	var tk *task
	var puts []string
	fail := true
	gs := &gateStore{ObjectStore: local}
	gs.onPut = func(key string) error {
		puts = append(puts, key)
		require.Equal(t, int64(-1), tk.DurableOffset(), "durable offset moved before %s was stored", key)
		if fail && len(puts) == 2 { // the manifest went through, the first file fails
			return fmt.Errorf("disk full")
		}
		return nil
	}
	e := newEnvOn(t, dir, gs, newTestSerde(t), func(c *Config) { c.WriteRetries = 0 })
	tk = e.task(testTopics.Enriched, 0)
	recs := eventRecords(t, e.serde, 0, 0, 3, time.Date(2024, 3, 1, 9, 59, 0, 0, time.UTC), time.Minute)
	e.process(tk, recs...)

	err = tk.Flush(context.Background())
	require.ErrorContains(t, err, "disk full")
	require.Equal(t, int64(-1), tk.DurableOffset())
	require.False(t, e.sink.Ready())
	require.Empty(t, tempFiles(t, dir))

	// A new task (the runner restarted) re-reads from the committed offset.
	fail, puts = false, nil
	tk = e.task(testTopics.Enriched, 0)
	e.process(tk, recs...)
	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(3), tk.DurableOffset())
	require.True(t, e.sink.Ready())
	require.Equal(t, []string{
		"_sillage/manifests/sillage.events.enriched/p0/0-2.json",
		"events/dt=2024-03-01/hr=09/sillage.events.enriched-p0-0-0.parquet",
		"events/dt=2024-03-01/hr=10/sillage.events.enriched-p0-1-2.parquet",
	}, puts, "manifest first, then files, then the offset")
	require.Len(t, e.events(), 3)
}
