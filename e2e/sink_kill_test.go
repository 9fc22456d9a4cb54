//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/replay"
	"github.com/sillage/sillage/internal/tests3"
	"github.com/sillage/sillage/sink"
)

// slowRows is how many rows of the sample the first phase replays slowly:
// what is left (16,134 rows, all in hour 02) goes into one batch at the
// end, whose uncompressed hr=02 file (about 5.5 MB) exceeds the 5 MiB part
// size and goes up as a multipart upload.
const slowRows = 1300

// lakeManifest is the part of a batch manifest the test reads.
type lakeManifest struct {
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Files       []struct {
		Key  string `json:"key"`
		Rows int    `json:"rows"`
	} `json:"files"`
}

// TestSinkKilledDuringREES46ReplayToS3 replays the REES46 sample through
// real Apache Kafka into a lake on a real S3 server (versitygw) with the
// sink in a process of its own (-target sink; the enricher in another),
// and kills the sink with SIGKILL six times, restarting it each time:
//
//   - two kills at random moments (0.2 to 3 s after the sink got its
//     partitions) and one at a random write to S3 (the 1st to 6th after
//     the restart, before or after the server handles it) while the first
//     rows (up to 1,300) arrive slowly (40 rows/s, batches rolled every
//     second: small files, uploads, commits all the time), and one at a
//     random moment while it reads the rest into a batch;
//   - one after every file of a batch is stored on S3 but before the
//     offsets are committed: a proxy in front of the server holds the
//     server's answer to the batch's last file;
//   - one in the middle of a multipart upload: the rest of the sample
//     (at least 16,134 rows) is one batch whose hr=02 file, uncompressed,
//     exceeds the 5 MiB part size; the proxy holds part 2 once part 1 is
//     stored.
//
// After each kill the test records the committed offset, the batches
// written but not committed (their manifests) and the incomplete multipart
// uploads on the server. At the end the lake, read straight from S3,
// holds each of the 17,434 events exactly once with the right counts per
// type and revenue, the interrupted multipart upload has been aborted by
// the restarted sink, and none is left.
//
// Then the sink runs with compaction on (-sink.compact-after) and is
// killed a seventh time between the compaction's steps: the merged file of
// an hour stored, its originals not deleted. A glob over every file then
// counts rows twice; the sink's reader, which skips superseded files, does
// not. Restarted, the compaction finishes: one file per hour, every event
// once. About a minute.
func TestSinkKilledDuringREES46ReplayToS3(t *testing.T) {
	brokers := realBrokers(t)
	rows, err := replay.ReadCSV(reesFile)
	require.NoError(t, err)
	require.Len(t, rows, 17434)
	began := time.Now()
	ctx := context.Background()

	srv := tests3.Shared(t)
	bucket := srv.Bucket(t)
	direct, err := sink.OpenStore(srv.Root(bucket, "lake"))
	require.NoError(t, err)
	s3cl := srv.Client(t)
	core := minio.Core{Client: s3cl}
	proxy := startS3Proxy(t, srv.Endpoint, bucket)
	root := "s3://" + bucket + "/lake?endpoint=" + proxy.Endpoint() + "&region=" + tests3.Region + "&path_style=true&part_size=5MiB"

	id := randomID(t)
	prefix := "sillage.skill" + id + "."
	kc := kafka.DefaultConfig()
	kc.Brokers, kc.TopicPrefix, kc.Partitions, kc.ReplicationFactor = brokers, prefix, 1, 1
	{
		cl, err := kgo.NewClient(kc.Opts("e2e-admin")...)
		require.NoError(t, err)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		require.NoError(t, kafka.EnsureTopics(tctx, cl, kc.ReplicationFactor, true, kc.Specs()...))
		cancel()
		cl.Close()
	}
	enrichedTopic := kc.Topics().Enriched
	token := "sk-admin-token-" + id
	common := []string{"-kafka.brokers", strings.Join(brokers, ","), "-kafka.topic-prefix", prefix,
		"-kafka.partitions", "1", "-kafka.replication-factor", "1", "-admin.token", token}
	startSillage(t, freeAddr(t), freeAddr(t), append([]string{"-target", "enricher", "-instance.id", "e",
		"-data.dir", t.TempDir()}, common...)...)
	sinkDir := t.TempDir()
	startSink := func(maxAge string) *proc {
		return startSillage(t, freeAddr(t), freeAddr(t), append([]string{"-target", "sink", "-instance.id", "s",
			"-data.dir", sinkDir, "-sink.root", root, "-sink.compression", "none", "-sink.max-rows", "20000",
			"-sink.max-age", maxAge, "-sink.dedup-events", "0", "-sink.retry-max-backoff", "1s",
			// A killed member's partitions move after the session timeout.
			"-kafka.session-timeout", "6s"}, common...)...)
	}

	adm, err := kgo.NewClient(kc.Opts("e2e-watch")...)
	require.NoError(t, err)
	defer adm.Close()
	committed := func() int64 {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		offs, err := kadm.NewClient(adm).FetchOffsets(tctx, prefix+"sink")
		require.NoError(t, err)
		if o, ok := offs.Lookup(enrichedTopic, 0); ok {
			return o.At
		}
		return 0
	}
	fetchManifest := func(key string) (lakeManifest, error) {
		var m lakeManifest
		rc, err := direct.Get(ctx, key)
		if err != nil {
			return m, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		return m, err
	}
	readManifest := func(key string) lakeManifest {
		m, err := fetchManifest(key)
		require.NoError(t, err, key)
		return m
	}
	// pending describes the batches written (manifest stored) but not
	// committed, with how many of their files are on the server.
	pending := func(commit int64) []string {
		objs, err := direct.List(ctx, "_sillage/manifests/"+enrichedTopic+"/p0/")
		require.NoError(t, err)
		var out []string
		for _, o := range objs {
			m := readManifest(o.Key)
			if m.LastOffset < commit {
				continue
			}
			stored := 0
			for _, f := range m.Files {
				if _, err := s3cl.StatObject(ctx, bucket, "lake/"+f.Key, minio.StatObjectOptions{}); err == nil {
					stored++
				}
			}
			out = append(out, fmt.Sprintf("batch %d-%d (%d of %d files on S3)", m.FirstOffset, m.LastOffset, stored, len(m.Files)))
		}
		return out
	}
	type upload struct{ key, id string }
	incomplete := func() []upload {
		var out []upload
		for u := range s3cl.ListIncompleteUploads(ctx, bucket, "lake/", true) {
			require.NoError(t, u.Err)
			out = append(out, upload{u.Key, u.UploadID})
		}
		return out
	}
	describeUploads := func(us []upload) []string {
		var out []string
		for _, u := range us {
			res, err := core.ListObjectParts(ctx, bucket, u.key, u.id, 0, 0)
			require.NoError(t, err)
			var parts []string
			for _, p := range res.ObjectParts {
				parts = append(parts, fmt.Sprintf("part %d (%d bytes)", p.PartNumber, p.Size))
			}
			out = append(out, fmt.Sprintf("%s: %s", u.key, strings.Join(parts, ", ")))
		}
		return out
	}

	var report []string
	kills := 0
	var sk *proc
	kill := func(how string) {
		t.Helper()
		before := fmt.Sprintf("in flight to S3: %v; %v rows buffered, %v event rows written by this process",
			proxy.InFlight(), metricValueAuth(t, sk.Admin, token, "sillage_sink_buffered_rows"),
			metricValueAuth(t, sk.Admin, token, `sillage_sink_rows_written_total{table="events"}`))
		sk.kill()
		kills++
		c := committed()
		line := fmt.Sprintf("kill %d at %s (%s): %s; after the kill: committed offset %d, written but uncommitted %v, incomplete multipart uploads %v",
			kills, time.Since(began).Round(100*time.Millisecond), how, before, c, pending(c), describeUploads(incomplete()))
		report = append(report, line)
		t.Log(line)
	}

	// Phase 1: the first rows arrive slowly.
	recs := rawRecords(t, prefix, rows)
	prod, err := kgo.NewClient(kc.ProducerOpts("e2e-replay")...)
	require.NoError(t, err)
	defer prod.Close()
	stopSlow := make(chan struct{})
	slowDone := make(chan int, 1)
	go func() {
		n := 0
		defer func() { slowDone <- n }()
		for n < slowRows {
			select {
			case <-stopSlow:
				return
			case <-time.After(100 * time.Millisecond):
			}
			part := recs[n:min(n+4, slowRows)]
			if err := prod.ProduceSync(ctx, part...).FirstErr(); err != nil {
				t.Errorf("producing rows %d..: %v", n, err)
				return
			}
			n += len(part)
		}
	}()

	seed := time.Now().UnixNano()
	rnd := rand.New(rand.NewSource(seed))
	t.Logf("random kill delays seeded with %d", seed)
	// A restarted sink gets its partitions once the killed member's
	// session has expired; the random delay counts from then.
	assigned := func() {
		require.Eventually(t, func() bool { return strings.Contains(sk.Log(), "partitions assigned") }, time.Minute, 20*time.Millisecond)
	}
	randomKill := func(maxAge string) {
		sk = startSink(maxAge)
		assigned()
		d := 200*time.Millisecond + time.Duration(rnd.Int63n(int64(2800*time.Millisecond)))
		time.Sleep(d)
		kill(fmt.Sprintf("random, %s after the sink got its partitions", d.Round(time.Millisecond)))
	}
	randomKill("1s")

	// After upload, before commit: hold the server's answer to the last
	// file of the next batch (the files of a batch are the manifest's, in
	// order).
	var mu sync.Mutex
	var last string
	var held lakeManifest
	proxy.SetRule(func(op s3Op, done bool, status int) bool {
		if !done || status != 200 || (op.Kind != "put" && op.Kind != "complete") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if last == "" && strings.HasPrefix(op.Key, "lake/_sillage/manifests/") {
			m, err := fetchManifest(strings.TrimPrefix(op.Key, "lake/"))
			if err == nil && len(m.Files) > 0 {
				held, last = m, "lake/"+m.Files[len(m.Files)-1].Key
			}
			return false
		}
		return last != "" && op.Key == last
	})
	sk = startSink("1s")
	select {
	case h := <-proxy.held:
		t.Log(h)
	case <-time.After(time.Minute):
		t.Fatalf("no batch written within a minute:\n%s", sk.Log())
	}
	kill("after the batch's files were stored, before the commit")
	proxy.Release()
	mu.Lock()
	h := held
	mu.Unlock()
	c := committed()
	require.LessOrEqual(t, c, h.FirstOffset, "the batch %d-%d was not committed", h.FirstOffset, h.LastOffset)
	for _, f := range h.Files {
		_, err := s3cl.StatObject(ctx, bucket, "lake/"+f.Key, minio.StatObjectOptions{})
		require.NoError(t, err, "file %s of the batch is on S3", f.Key)
	}

	randomKill("1s")

	// At a random write to S3 (the 1st to 6th manifest, file or part
	// request after the restart), held before or after the server handles
	// it.
	nth, after := 1+rnd.Intn(6), rnd.Intn(2) == 1
	var writes int
	proxy.SetRule(func(op s3Op, done bool, status int) bool {
		if op.Kind == "other" || op.Kind == "abort" || done != after || (done && status != 200) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		writes++
		return writes == nth
	})
	sk = startSink("1s")
	select {
	case h := <-proxy.held:
		t.Log(h)
		kill(fmt.Sprintf("random S3 write: %s", h))
	case <-time.After(time.Minute):
		t.Fatalf("no S3 write within a minute:\n%s", sk.Log())
	}
	proxy.Release()
	close(stopSlow)
	n := <-slowDone
	require.False(t, t.Failed())
	report = append(report, fmt.Sprintf("%d rows produced slowly", n))

	// Phase 2: the rest at once, enriched while the sink is down; the sink
	// then reads it as one batch (max age 10s) with a multipart hr=02 file,
	// is killed once at random meanwhile, then in that upload.
	for i := n; i < len(recs); i += 1000 {
		require.NoError(t, prod.ProduceSync(ctx, recs[i:min(i+1000, len(recs))]...).FirstErr())
	}
	waitEnriched(t, brokers, prefix, 2*time.Minute)
	var end int64
	{
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ends, err := kadm.NewClient(adm).ListEndOffsets(tctx, enrichedTopic)
		cancel()
		require.NoError(t, err)
		o, ok := ends.Lookup(enrichedTopic, 0)
		require.True(t, ok)
		end = o.Offset // past the transaction markers
	}
	// A random kill while the sink reads the rest into its batch.
	randomKill("10s")
	proxy.SetRule(func(op s3Op, done bool, _ int) bool {
		return !done && op.Kind == "part" && op.Part >= 2
	})
	sk = startSink("10s")
	var partKey string
	select {
	case h := <-proxy.held:
		t.Log(h)
		partKey = strings.TrimSuffix(strings.TrimPrefix(h, "UploadPart 2 of "), " held before the server")
	case <-time.After(time.Minute):
		t.Fatalf("no multipart upload within a minute:\n%s", sk.Log())
	}
	// Part 1 stored, part 2 held: kill.
	var up upload
	require.Eventually(t, func() bool {
		for _, u := range incomplete() {
			if u.key == partKey {
				res, err := core.ListObjectParts(ctx, bucket, u.key, u.id, 0, 0)
				if err == nil && len(res.ObjectParts) > 0 && res.ObjectParts[0].PartNumber == 1 {
					up = u
					return true
				}
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "part 1 of %s stored", partKey)
	kill("in the middle of a multipart upload: part 1 stored, part 2 not sent")
	proxy.Release()
	require.Contains(t, incomplete(), up, "the killed upload is left incomplete on the server")
	_, err = s3cl.StatObject(ctx, bucket, partKey, minio.StatObjectOptions{})
	require.Error(t, err, "%s does not exist yet", partKey)

	// The last restart writes the batch again, to the same files.
	sk = startSink("10s")
	// The topic's last offset is the marker of the enricher's last
	// transaction, which consumers never see as a record.
	require.Eventually(t, func() bool { return committed() >= end-1 }, 2*time.Minute, 100*time.Millisecond,
		"the sink commits the whole enriched topic (%d offsets)", end)
	require.Empty(t, incomplete(), "no multipart upload left on the server")
	require.GreaterOrEqual(t, metricValueAuth(t, sk.Admin, token, "sillage_sink_incomplete_uploads_removed_total"), 1.0)
	require.Contains(t, sk.Log(), "removed incomplete uploads")
	replayed := metricValueAuth(t, sk.Admin, token, "sillage_sink_replayed_batches_total")
	require.GreaterOrEqual(t, replayed, 1.0, "the interrupted batch was rewritten along its boundaries")
	info, err := s3cl.StatObject(ctx, bucket, partKey, minio.StatObjectOptions{})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(info.ETag, "-2"), "%s is a 2-part multipart object (ETag %s)", partKey, info.ETag)
	sk.stop(t)

	// The lake, read straight from S3 through the sink's reader.
	checkLake := func(when string) {
		t.Helper()
		nrows, err := sink.CountRows(ctx, direct, sink.TableEvents)
		require.NoError(t, err)
		events, err := sink.ReadTable[sink.EventRow](ctx, direct, sink.TableEvents)
		require.NoError(t, err)
		seen := map[string]int{}
		byName := map[string]int{}
		var revenueCents int64
		for _, e := range events {
			seen[e.EventID]++
			byName[e.Event]++
			if e.Event == "Order Completed" {
				require.NotNil(t, e.Revenue, "order %s without revenue", e.EventID)
				revenueCents += int64(*e.Revenue*100 + 0.5)
			}
		}
		var dups, missing []string
		for id, k := range seen {
			if k > 1 {
				dups = append(dups, fmt.Sprintf("%s×%d", id, k))
			}
		}
		for _, r := range rows {
			if seen[r.MessageID] == 0 {
				missing = append(missing, fmt.Sprintf("line %d", r.Line))
			}
		}
		require.Empty(t, firstN(dups, 10), "%s: events in the lake more than once", when)
		require.Empty(t, firstN(missing, 10), "%s: events missing from the lake", when)
		require.Equal(t, int64(17434), nrows, when)
		require.Len(t, events, 17434, when)
		require.Len(t, seen, 17434, when)
		require.Equal(t, map[string]int{"Product Viewed": 17055, "Product Added": 165, "Order Completed": 214}, byName, when)
		require.Equal(t, int64(5944263), revenueCents, "%s: revenue of the purchases: 59,442.63", when)
		failed, err := sink.CountRows(ctx, direct, sink.TableFailed)
		require.NoError(t, err)
		require.Zero(t, failed, when)
	}
	checkLake("after the kills")
	filesBefore, err := sink.Files(ctx, direct, sink.TableEvents)
	require.NoError(t, err)

	// Compaction (-sink.compact-after), killed between its steps: the
	// merged file of an hour is stored, the originals not yet deleted.
	// The hours of 2019 are long closed.
	compactArgs := []string{"-sink.compact-after", "1h", "-sink.compact-lookback", "0"}
	proxy.SetRule(func(op s3Op, done bool, status int) bool {
		return done && status == 200 && (op.Kind == "put" || op.Kind == "complete") && strings.HasPrefix(op.Key, "lake/events/")
	})
	sk = startSillage(t, freeAddr(t), freeAddr(t), append(append([]string{"-target", "sink", "-instance.id", "s",
		"-data.dir", sinkDir, "-sink.root", root, "-sink.compression", "none", "-kafka.session-timeout", "6s"}, compactArgs...), common...)...)
	var mergedKey string
	select {
	case h := <-proxy.held:
		t.Log(h)
		mergedKey = strings.TrimSuffix(strings.TrimPrefix(h, "PUT "), " held after the server answered 200")
	case <-time.After(time.Minute):
		t.Fatalf("no merged file written within a minute:\n%s", sk.Log())
	}
	kill("compaction: merged file stored, originals not deleted")
	proxy.Release()
	raw, err := direct.List(ctx, "events/")
	require.NoError(t, err)
	var globRows int64
	for _, o := range raw {
		rc, err := direct.Get(ctx, o.Key)
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		globRows += pf.NumRows()
	}
	require.Greater(t, globRows, int64(17434), "a glob over every file sees the merged rows twice meanwhile")
	checkLake("after a kill between the compaction's steps")
	report = append(report, fmt.Sprintf("compaction killed after storing %s: %d objects under events/, %d rows for a glob over all of them, 17,434 for the sink's reader (superseded files skipped)",
		mergedKey, len(raw), globRows))

	// Restarted, the compaction deletes the superseded originals and
	// merges what is left.
	sk = startSillage(t, freeAddr(t), freeAddr(t), append(append([]string{"-target", "sink", "-instance.id", "s",
		"-data.dir", sinkDir, "-sink.root", root, "-sink.compression", "none", "-kafka.session-timeout", "6s"}, compactArgs...), common...)...)
	require.Eventually(t, func() bool {
		return metricValueAuth(t, sk.Admin, token, `sillage_sink_compactions_total{result="ok"}`) >= 1
	}, time.Minute, 100*time.Millisecond, "a compaction run completes")
	require.Contains(t, sk.Log(), "deleted a file superseded by a merged file")
	sk.stop(t)
	checkLake("after the compaction")
	rawAfter, err := direct.List(ctx, "events/")
	require.NoError(t, err)
	perHour := map[string]int{}
	for _, o := range rawAfter {
		perHour[o.Key[:strings.LastIndex(o.Key, "/")]]++
	}
	for dir, k := range perHour {
		require.Equal(t, 1, k, "%s: one file after compaction", dir)
	}
	report = append(report, fmt.Sprintf("after compaction: %d files under events/ (before: %d), one per hour", len(rawAfter), len(filesBefore)))

	files, err := sink.Files(ctx, direct, sink.TableEvents)
	require.NoError(t, err)
	var sizes []string
	for _, f := range files {
		sizes = append(sizes, fmt.Sprintf("%s %d", f.Key[strings.LastIndex(f.Key, "/")+1:], f.Size))
	}
	sort.Strings(sizes)
	require.GreaterOrEqual(t, kills, 6)
	t.Logf("%d kills:\n  %s", kills, strings.Join(report, "\n  "))
	t.Logf("lake on S3: 17,434 events exactly once in %d files (the multipart one: %s); %v batches rewritten by the last start; test took %s; files (name bytes): %s",
		len(files), partKey, replayed, time.Since(began).Round(time.Second), strings.Join(sizes, ", "))
}
