package sink

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
)

// task writes the records of one input partition. Records accumulate in a
// batch; the batch rolls into files (one per table and hour) when it is
// full, old, or flushed. Only once every file of a batch is durably stored
// does DurableOffset move past it.
type task struct {
	s     *Sink
	log   *slog.Logger
	tp    stream.TopicPartition
	table string

	cur     *batch
	durable int64
	recent  *recentIDs // events table: ids written recently, to drop copies

	started bool
	// manifests are the batch manifests of this partition that may still
	// describe uncommitted batches, sorted by first offset.
	manifests []manifestRef
	// replay are the manifests at or after the restart offset: batches are
	// cut at their boundaries so that re-read records land in the same files.
	replay []manifestRef
}

var (
	_ stream.Task    = (*task)(nil)
	_ stream.Durable = (*task)(nil)
)

// Process implements stream.Task.
func (t *task) Process(ctx context.Context, rec *kgo.Record, _ *stream.Output) error {
	if !t.started {
		t.start(ctx, rec.Offset)
	}
	if err := t.cutBefore(ctx, rec.Offset); err != nil {
		return err
	}
	if err := t.add(ctx, rec); err != nil {
		return err
	}
	if t.replaying() {
		if rec.Offset >= t.replay[0].last {
			return t.roll(ctx)
		}
		return nil
	}
	b := t.cur
	if b.rows >= t.s.cfg.MaxRows || b.bytes >= t.s.cfg.MaxBytes || len(b.files) >= t.s.cfg.MaxPartitions {
		return t.roll(ctx)
	}
	return nil
}

// Tick implements stream.Task: age-based rolls and manifest clean-up.
func (t *task) Tick(ctx context.Context, now time.Time, _ *stream.Output) error {
	if !t.cur.empty() && !t.replaying() && now.Sub(t.cur.opened) >= t.s.cfg.MaxAge {
		if err := t.roll(ctx); err != nil {
			return err
		}
	}
	t.expireManifests(ctx, now)
	return nil
}

// Flush implements stream.Durable. A batch being re-read along an earlier
// run's boundaries is not written early (that would change its file names):
// its records stay uncommitted and are read again by the next owner.
func (t *task) Flush(ctx context.Context) error {
	if t.cur.empty() {
		return nil
	}
	if t.replaying() {
		t.log.Info("not flushing a partly re-read batch; its records stay uncommitted",
			"first_offset", t.cur.first, "last_offset", t.cur.last, "batch_last_offset", t.replay[0].last)
		return nil
	}
	return t.roll(ctx)
}

// DurableOffset implements stream.Durable.
func (t *task) DurableOffset() int64 { return t.durable }

// Committed tells the task that its offsets below offset are committed, so
// the manifests of those batches are no longer needed.
func (t *task) Committed(ctx context.Context, offset int64) {
	keep := t.manifests[:0]
	for _, m := range t.manifests {
		if m.last < offset {
			t.deleteManifest(ctx, m)
			continue
		}
		keep = append(keep, m)
	}
	t.manifests = keep
}

// Close implements stream.Task; unwritten rows are dropped (they are not
// committed, so they will be read again).
func (t *task) Close() error {
	t.s.metrics.bufferedRows.Sub(float64(t.cur.rows))
	t.cur = newBatch()
	return nil
}

// start runs on the first record after the task was created: offset is
// where consumption resumed, i.e. the committed offset. Manifests wholly
// below it are garbage; those at or after it are followed.
func (t *task) start(ctx context.Context, offset int64) {
	t.started = true
	var keep []manifestRef
	for _, m := range t.manifests {
		switch {
		case m.last < offset:
			t.deleteManifest(ctx, m)
		case len(keep) > 0 && m.first <= keep[len(keep)-1].last:
			t.log.Warn("ignoring a batch manifest overlapping an earlier one", "key", m.key)
		default:
			keep = append(keep, m)
		}
	}
	t.manifests = keep
	t.replay = append([]manifestRef(nil), keep...)
	if len(keep) == 0 {
		return
	}
	t.log.Info("resuming inside batches written but not committed; re-writing them to the same files",
		"from_offset", offset, "batches", len(keep), "until_offset", keep[len(keep)-1].last)
	if keep[0].first < offset {
		t.log.Warn("resuming in the middle of a written batch (records removed from Kafka, or offsets moved by hand): its rows from the earlier run stay in the lake and may be duplicated",
			"from_offset", offset, "batch_first_offset", keep[0].first, "batch_last_offset", keep[0].last)
	}
}

// replaying reports whether the open batch must end exactly where a
// manifest of an earlier run says.
func (t *task) replaying() bool {
	return len(t.replay) > 0 && !t.cur.empty() && t.cur.first >= t.replay[0].first
}

// cutBefore rolls the open batch before the record at offset when the
// earlier run's boundaries demand it.
func (t *task) cutBefore(ctx context.Context, offset int64) error {
	if !t.cur.empty() && len(t.replay) > 0 {
		m := t.replay[0]
		inside := t.cur.first >= m.first
		if (inside && offset > m.last) || (!inside && offset >= m.first) {
			if err := t.roll(ctx); err != nil {
				return err
			}
		}
	}
	for len(t.replay) > 0 && t.replay[0].last < offset {
		t.replay = t.replay[1:]
	}
	return nil
}

// roll encodes the open batch, stores its manifest then its files, and only
// then advances the durable offset.
func (t *task) roll(ctx context.Context) error {
	b := t.cur
	if b.empty() {
		return nil
	}
	began := time.Now()
	files, err := b.seal(t.tp.Topic, t.tp.Partition)
	if err != nil {
		return err
	}
	m := manifest{
		Topic: t.tp.Topic, Partition: t.tp.Partition,
		FirstOffset: b.first, LastOffset: b.last, Rows: b.rows,
		Files: files, WrittenAt: t.s.now().UTC(),
	}
	mdata, err := encodeManifest(m)
	if err != nil {
		return err
	}
	mkey := manifestKey(t.tp.Topic, t.tp.Partition, b.first, b.last)
	if err := t.put(ctx, mkey, mdata); err != nil {
		return err
	}
	for _, f := range files {
		if err := t.put(ctx, f.Key, f.data); err != nil {
			return err
		}
	}

	t.durable = b.last + 1
	t.cur = newBatch()
	mt := t.s.metrics
	mt.bufferedRows.Sub(float64(b.rows))
	for _, f := range files {
		mt.rowsWritten.WithLabelValues(f.Table).Add(float64(f.Rows))
		mt.filesWritten.WithLabelValues(f.Table).Inc()
		mt.bytesWritten.Add(float64(f.Bytes))
	}
	mt.flushDuration.Observe(time.Since(began).Seconds())
	if len(t.replay) > 0 && t.replay[0].first == b.first && t.replay[0].last == b.last {
		mt.replayedRolls.Inc()
	}
	for len(t.replay) > 0 && t.replay[0].last <= b.last {
		t.replay = t.replay[1:]
	}
	t.noteManifest(manifestRef{key: mkey, first: b.first, last: b.last, written: t.s.now()})
	t.log.Debug("batch written", "first_offset", b.first, "last_offset", b.last, "rows", b.rows,
		"files", len(files), "took", time.Since(began))
	return nil
}

// put stores one object, retrying with backoff (see Sink.retry).
func (t *task) put(ctx context.Context, key string, data []byte) error {
	return t.s.retry(ctx, t.log, "storing "+key, func() error {
		_, err := t.s.store.Put(ctx, key, bytes.NewReader(data))
		return err
	})
}

func (t *task) noteManifest(ref manifestRef) {
	for i := range t.manifests {
		if t.manifests[i].key == ref.key {
			t.manifests[i] = ref
			return
		}
	}
	t.manifests = append(t.manifests, ref)
}

// expireManifests removes manifests of durable batches written longer ago
// than the retention: by then the runner has long committed them.
func (t *task) expireManifests(ctx context.Context, now time.Time) {
	if len(t.manifests) == 0 || now.Sub(t.manifests[0].written) < t.s.cfg.ManifestRetention {
		return
	}
	keep := t.manifests[:0]
	for _, m := range t.manifests {
		if m.last < t.durable && now.Sub(m.written) >= t.s.cfg.ManifestRetention && !t.inReplay(m) {
			t.deleteManifest(ctx, m)
			continue
		}
		keep = append(keep, m)
	}
	t.manifests = keep
}

func (t *task) inReplay(m manifestRef) bool {
	for _, r := range t.replay {
		if r.key == m.key {
			return true
		}
	}
	return false
}

func (t *task) deleteManifest(ctx context.Context, m manifestRef) {
	if err := t.s.store.Delete(ctx, m.key); err != nil {
		t.log.Warn("removing an obsolete batch manifest failed", "key", m.key, "err", err)
	}
}
