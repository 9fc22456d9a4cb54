package lake

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/sink"
)

const rees46 = "../../../shared/data/clickstream/rees46-multicategory/2019-Oct-head17k.csv"

// rees46Event is the enriched event the pipeline makes of a replayed row:
// the replay's track call (internal/replay: properties with price,
// currency, quantity, and order_id, revenue = price and a products list
// for purchases), enriched.
func rees46Event(r replay.Row) *schemas.EnrichedEvent {
	name, _ := replay.EventName(r.EventType)
	props := map[string]any{
		"product_id": r.ProductID, "category_id": r.CategoryID, "category_code": r.CategoryCode, "brand": r.Brand,
		"price": r.Price, "currency": "USD", "quantity": 1, "user_session": r.UserSession,
	}
	if r.EventType == "purchase" {
		props["order_id"] = r.OrderID()
		props["revenue"] = r.Price
		props["products"] = []any{map[string]any{"product_id": r.ProductID, "price": r.Price, "quantity": 1}}
	}
	pj, _ := json.Marshal(props)
	ms := r.EventTime.UnixMilli()
	all := schemas.Consent{Necessary: true, Analytics: true, Personalisation: true, Marketing: true, Advertising: true}
	return &schemas.EnrichedEvent{
		Raw: schemas.RawEvent{
			EventID: r.MessageID, Source: "demo", Type: "track", Event: name,
			UserID: r.UserID, Timestamp: ms, ReceivedAt: ms + 40,
			IP: "127.0.0.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36",
			LibraryName: "sillage-replay", LibraryVersion: "1",
			PropertiesJSON: string(pj), Consent: all,
		},
		ProfileID: r.UserID, EventTime: ms, SessionID: r.UserSession, SessionIndex: 1,
		UA:         schemas.UserAgent{Browser: "Chrome", BrowserVersion: "126.0", OS: "Linux", Device: "Other"},
		EnrichedAt: ms + 60,
	}
}

// writeREES46Lake runs the sink over the REES46 replay, keyed by user over
// four partitions as the enricher produces them, into a lake in a
// temporary folder, and returns the folder.
func writeREES46Lake(t *testing.T) string {
	t.Helper()
	rows, err := replay.ReadCSV(rees46)
	require.NoError(t, err)
	require.Len(t, rows, 17434)

	topics := kafka.DefaultConfig().Topics()
	m := map[schemas.Kind]string{
		schemas.KindRaw: topics.Raw, schemas.KindEnriched: topics.Enriched, schemas.KindMembership: topics.Membership,
		schemas.KindFailed: topics.Failed, schemas.KindCorrection: topics.Corrections,
	}
	ctx := context.Background()
	serde, err := schemas.NewSerde(ctx, schemas.NewEmbeddedRegistry(m), m)
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := sink.DefaultConfig()
	cfg.Root = dir
	cfg.MaxRows = 2000 // several files per partition and hour
	s, err := sink.New(cfg, sink.Deps{Registerer: prometheus.NewRegistry(), Serde: serde, Topics: topics})
	require.NoError(t, err)

	const partitions = 4
	tasks := make([]stream.Task, partitions)
	next := make([]int64, partitions)
	for p := range tasks {
		tasks[p], err = s.NewTask(ctx, stream.TopicPartition{Topic: topics.Enriched, Partition: int32(p)}, nil)
		require.NoError(t, err)
	}
	for _, r := range rows {
		h := fnv.New32a()
		h.Write([]byte(r.UserID))
		p := int32(h.Sum32() % partitions)
		v, err := serde.Encode(schemas.KindEnriched, rees46Event(r), nil)
		require.NoError(t, err)
		rec := &kgo.Record{Topic: topics.Enriched, Partition: p, Offset: next[p], Value: v, Key: []byte(r.UserID)}
		next[p]++
		require.NoError(t, tasks[p].Process(ctx, rec, &stream.Output{}))
	}
	for _, tk := range tasks {
		require.NoError(t, tk.(stream.Durable).Flush(ctx))
		require.NoError(t, tk.Close())
	}
	return dir
}

// query runs SQL and returns the rows as text (NULL as "NULL").
func query(t *testing.T, l *Lake, sql string) [][]string {
	t.Helper()
	var cols []Column
	var out [][]string
	err := l.Query(context.Background(), sql, func(c []Column) error { cols = c; return nil }, func(vals []any) error {
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = text(v, cols[i].Type)
			}
		}
		out = append(out, row)
		return nil
	})
	require.NoError(t, err, sql)
	return out
}

func TestQueryTheREES46Lake(t *testing.T) {
	dir := writeREES46Lake(t)
	// A crash can leave a hidden temporary file next to the real ones, and
	// other tools hidden files of their own: none may be read (they are not
	// even Parquet). DuckDB's globs match hidden files: the views' pattern
	// excludes them.
	hrDirs, err := filepath.Glob(filepath.Join(dir, "events", "dt=*", "hr=*"))
	require.NoError(t, err)
	require.Len(t, hrDirs, 3, "the sample spans three hours of 2019-10-01")
	require.NoError(t, os.WriteFile(filepath.Join(hrDirs[0], ".x-p0-0-9.parquet.tmp-123"), []byte("half a file"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(hrDirs[0], ".probe.parquet"), []byte("half a file"), 0o644))

	ctx := context.Background()
	l, err := Open(ctx, dir)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, []string{"events"}, l.Tables(), "the replay writes no segments, failed or corrections rows")

	require.Equal(t, [][]string{{"17434", "17434"}}, query(t, l, "select count(*), count(distinct event_id) from events"))
	require.Equal(t, [][]string{{"track", "17434"}}, query(t, l, "select type, count(*) from events group by 1"))
	require.Equal(t, [][]string{
		{"Order Completed", "214"},
		{"Product Added", "165"},
		{"Product Viewed", "17055"},
	}, query(t, l, "select event, count(*) from events group by 1 order by 1"))
	require.Equal(t, [][]string{{"59442.63", "214", "USD"}},
		query(t, l, "select round(sum(revenue), 2), count(order_id), any_value(currency) from events where event = 'Order Completed'"))
	require.Equal(t, [][]string{{"NULL"}}, query(t, l, "select sum(revenue) from events where event <> 'Order Completed'"),
		"only orders carry a revenue")
	// The Hive partitions are typed columns.
	require.Equal(t, [][]string{
		{"2019-10-01", "0", "1083"},
		{"2019-10-01", "1", "121"},
		{"2019-10-01", "2", "16230"},
	}, query(t, l, "select dt, hr, count(*) from events group by all order by all"))
	require.Equal(t, [][]string{{"DATE", "INTEGER", "TIMESTAMP WITH TIME ZONE", "DOUBLE", "BOOLEAN"}},
		query(t, l, "select typeof(dt), typeof(hr), typeof(event_time), typeof(price), typeof(consent_analytics) from events limit 1"))
	require.Equal(t, [][]string{{"2019-10-01 00:00:00+00", "2019-10-01 02:50:00+00"}},
		query(t, l, "select min(event_time), max(event_time) from events"))

	// Tables without files.
	err = l.Query(ctx, "select count(*) from failed", func([]Column) error { return nil }, func([]any) error { return nil })
	require.ErrorIs(t, err, ErrNoFiles)
	require.ErrorContains(t, err, "table failed: no Parquet files under "+filepath.Join(dir, "failed")+" yet (tables with files: events)")
	err = l.Query(ctx, "select * from nosuch", func([]Column) error { return nil }, func([]any) error { return nil })
	require.ErrorContains(t, err, "nosuch")
	require.ErrorContains(t, err, "the lake's tables: events, segments, failed, corrections")

	// Output formats.
	var buf bytes.Buffer
	require.NoError(t, l.Write(ctx, &buf, "table", "select event, count(*) as n, round(sum(revenue), 2) as revenue from events group by 1 order by 2 desc"))
	require.Equal(t, `event                n   revenue
---------------  -----  --------
Product Viewed   17055      NULL
Order Completed    214  59442.63
Product Added      165      NULL
(3 rows)
`, buf.String())

	buf.Reset()
	require.NoError(t, l.Write(ctx, &buf, "csv", "select event, count(*) as n, round(sum(revenue), 2) as revenue from events group by 1 order by 1"))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Equal(t, [][]string{{"event", "n", "revenue"}, {"Order Completed", "214", "59442.63"},
		{"Product Added", "165", ""}, {"Product Viewed", "17055", ""}}, recs)

	buf.Reset()
	require.NoError(t, l.Write(ctx, &buf, "json", "select event, count(*) as n, round(sum(revenue), 2) as revenue, min(dt) as dt from events group by 1 order by 1"))
	var objs []map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &objs), buf.String())
	require.Equal(t, []map[string]any{
		{"event": "Order Completed", "n": 214.0, "revenue": 59442.63, "dt": "2019-10-01"},
		{"event": "Product Added", "n": 165.0, "revenue": nil, "dt": "2019-10-01"},
		{"event": "Product Viewed", "n": 17055.0, "revenue": nil, "dt": "2019-10-01"},
	}, objs)
	require.True(t, strings.HasPrefix(buf.String(), "[\n{\"event\":\"Order Completed\",\"n\":214,"), "keys in column order: %s", buf.String())

	buf.Reset()
	require.NoError(t, l.Write(ctx, &buf, "json", "select * from events where false"))
	require.Equal(t, "[]\n", buf.String())
	require.ErrorContains(t, l.Write(ctx, &buf, "xml", "select 1"), `unknown format "xml" (want table, csv, json)`)
}

func TestEmptyAndMissingLakes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(ctx, "file://"+dir)
	require.NoError(t, err)
	defer l.Close()
	require.Empty(t, l.Tables())
	require.Equal(t, [][]string{{"1"}}, query(t, l, "select 1"))
	err = l.Query(ctx, "select count(*) from events", func([]Column) error { return nil }, func([]any) error { return nil })
	require.ErrorIs(t, err, ErrNoFiles)
	require.ErrorContains(t, err, "the lake is empty")

	_, err = Open(ctx, filepath.Join(dir, "nowhere"))
	require.ErrorContains(t, err, "lake root "+filepath.Join(dir, "nowhere")+" does not exist")
	_, err = os.Stat(filepath.Join(dir, "nowhere"))
	require.True(t, os.IsNotExist(err), "a query creates no folder")

	_, err = Open(ctx, "s3://bucket/lake?endpoint=http://127.0.0.1:9000")
	require.ErrorIs(t, err, ErrNotLocal)
	require.ErrorContains(t, err, "no httpfs extension")
	_, err = Open(ctx, "gs://bucket/lake")
	require.ErrorIs(t, err, ErrNotLocal)
	_, err = Open(ctx, "file://host/lake")
	require.ErrorContains(t, err, `not host "host"`)
}

func TestTimesAndTypesAreRendered(t *testing.T) {
	l, err := Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	defer l.Close()
	got := query(t, l, `select 1.5::decimal(10,2), -0.05::decimal(4,3), 12345678901234567890::hugeint, 1e30::double, 0.25::float,
		timestamp '2024-03-01 10:00:00.123', timestamptz '2024-03-01 10:00:00+02', date '2024-03-01',
		'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid, [1, 2], {'a': 1}, 'x'::blob, '\xff'::blob, interval 3 day, true`)
	require.Equal(t, [][]string{{"1.50", "-0.050", "12345678901234567890", "1e+30", "0.25",
		"2024-03-01 10:00:00.123", "2024-03-01 08:00:00+00", "2024-03-01",
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "[1,2]", `{"a":1}`, "x", `\xff`, "0 months 3 days 0 µs", "true"}}, got)
}

// A compaction killed between its two steps leaves the merged file beside
// the originals it supersedes: the views read the live files only, so no
// row counts twice.
func TestSupersededFilesAreNotCountedTwice(t *testing.T) {
	dir := writeREES46Lake(t)
	files, err := filepath.Glob(filepath.Join(dir, "events", "dt=*", "hr=*", "*-p*-*-*.parquet"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// A merged file covering a wider offset range than one original, with
	// the same rows (what an interrupted compaction of one file leaves).
	orig := files[0]
	m := regexp.MustCompile(`^(.*)-p(\d+)-(\d+)-(\d+)\.parquet$`).FindStringSubmatch(orig)
	require.NotNil(t, m, orig)
	last, err := strconv.Atoi(m[4])
	require.NoError(t, err)
	merged := fmt.Sprintf("%s-p%s-%s-%d.parquet", m[1], m[2], m[3], last+1000)
	data, err := os.ReadFile(orig)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(merged, data, 0o644))

	l, err := Open(context.Background(), dir)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, [][]string{{"17434", "17434"}}, query(t, l, "select count(*), count(distinct event_id) from events"))
}
