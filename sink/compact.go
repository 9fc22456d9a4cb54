package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// Compaction merges the small files of closed hour partitions.
//
// The unit is a group: the files of one table, one hour directory and one
// input topic partition. Their names are FileName(topic, partition, first,
// last) with disjoint offset ranges (each batch writes at most one file per
// hour). A group of two or more files whose hour ended more than
// CompactOptions.Delay ago is merged into one file named
// FileName(topic, partition, min first, max last) — deterministic: the same
// originals always give the same name and the same rows — in three steps:
//
//  1. the merged file is written (ObjectStore.Put: atomic and durable) and
//     read back: its row count must be the originals' sum;
//  2. the originals are deleted, one by one.
//
// Readers and the crash window. Between 1 and 2 (normally well under a
// second; after a crash there, until the next compaction run) the merged
// file and some originals coexist. A file whose topic partition and offset
// range lie within another file's of the same directory is superseded:
// this package's readers (Files, ReadTable, CountRows) skip it, so they
// count every row once at every moment, and the next compaction run deletes
// it first. A reader that globs every file (DuckDB's
// 'events/**/*.parquet', Spark) counts those rows twice during that
// window; see README "Compaction" for a query that skips superseded files.
//
// Files a sink may still rewrite are never merged: those named by a batch
// manifest (an uncommitted batch, or one committed within
// Config.ManifestRetention). Late events reaching a merged hour later add
// new files after the merged one (higher offsets); the next run merges
// them too, into a file whose range covers the earlier merged file.
// Leftovers of an interrupted merged upload carry the sink's naming, so the
// sink removes them when it next takes the partition (IncompleteCleaner).

// CompactOptions configures one compaction run.
type CompactOptions struct {
	// Delay: an hour partition is compacted once it ended this long ago
	// (late events may still arrive; they only add files).
	Delay time.Duration
	// MaxBytes bounds the merged file: a group whose files weigh more in
	// total is left alone (it is not made of small files).
	MaxBytes int64
	// Compression of the merged files (as Config.Compression).
	Compression string
	// Lookback bounds the listing: only the days of hours that ended
	// between Delay+Lookback and Delay ago are looked at (0: the whole
	// table, every run).
	Lookback time.Duration
	// Tables to compact (default: all).
	Tables []string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger (discard when nil).
	Logger *slog.Logger
	// afterPut, in tests, runs between the merged file's write and the
	// deletion of the originals; an error aborts the run there (a crash).
	afterPut func(merged string) error
}

// CompactResult sums up a run.
type CompactResult struct {
	// Groups merged, files merged into them, files written.
	Groups, FilesMerged int
	// Rows moved into merged files.
	Rows int64
	// Bytes of the merged originals and of the merged files.
	BytesBefore, BytesAfter int64
	// Superseded files deleted (left by an interrupted earlier run).
	SupersededDeleted int
	// Groups skipped because a file is still named by a batch manifest or
	// the group exceeds MaxBytes.
	Skipped int
}

// DefaultCompactOptions returns the defaults: hours closed for 2 hours,
// merged files up to 256 MiB, zstd, the whole table.
func DefaultCompactOptions() CompactOptions {
	return CompactOptions{Delay: 2 * time.Hour, MaxBytes: 256 << 20, Compression: "zstd"}
}

// compactPrefixes returns what to list of a table: the day directories
// (dt=YYYY-MM-DD) that may hold hours to compact, or the whole table.
func compactPrefixes(table string, now time.Time, opts CompactOptions) []string {
	if opts.Lookback <= 0 {
		return []string{table + "/"}
	}
	last := now.Add(-opts.Delay).UTC()
	day := last.Add(-opts.Lookback - time.Hour).Truncate(24 * time.Hour)
	var out []string
	for ; !day.After(last); day = day.Add(24 * time.Hour) {
		out = append(out, table+"/dt="+day.Format("2006-01-02")+"/")
	}
	return out
}

// lakeFile is a data file parsed from its key.
type lakeFile struct {
	ObjectInfo
	dir, topic  string
	partition   int32
	first, last int64
}

// parseFileKey parses <dir>/<topic>-p<partition>-<first>-<last>.parquet.
func parseFileKey(o ObjectInfo) (lakeFile, bool) {
	f := lakeFile{ObjectInfo: o}
	dir, name := path.Split(o.Key)
	f.dir = strings.TrimSuffix(dir, "/")
	name, ok := strings.CutSuffix(name, ".parquet")
	if !ok {
		return f, false
	}
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return f, false
	}
	j := strings.LastIndexByte(name[:i], '-')
	if j < 0 {
		return f, false
	}
	k := strings.LastIndex(name[:j], "-p")
	if k <= 0 {
		return f, false
	}
	first, last, ok := parseRange(name[j+1:])
	if !ok {
		return f, false
	}
	p, err := strconv.ParseInt(name[k+2:j], 10, 32)
	if err != nil || p < 0 {
		return f, false
	}
	f.topic, f.partition, f.first, f.last = name[:k], int32(p), first, last
	return f, true
}

func (f lakeFile) group() string {
	return f.dir + "\x00" + f.topic + "\x00" + strconv.Itoa(int(f.partition))
}

// contains reports whether f's range covers g's (same group, other key).
func (f lakeFile) contains(g lakeFile) bool {
	return f.Key != g.Key && f.group() == g.group() && f.first <= g.first && g.last <= f.last
}

// splitSuperseded separates the files that another file of the list
// supersedes (see the package comment on compaction).
func splitSuperseded(objs []ObjectInfo) (live, superseded []ObjectInfo) {
	groups := map[string][]lakeFile{}
	var parsed []lakeFile
	var ok []bool
	for _, o := range objs {
		f, good := parseFileKey(o)
		parsed, ok = append(parsed, f), append(ok, good)
		if good {
			groups[f.group()] = append(groups[f.group()], f)
		}
	}
	for i, f := range parsed {
		hidden := false
		if ok[i] {
			for _, g := range groups[f.group()] {
				if g.contains(f) {
					hidden = true
					break
				}
			}
		}
		if hidden {
			superseded = append(superseded, f.ObjectInfo)
		} else {
			live = append(live, f.ObjectInfo)
		}
	}
	return live, superseded
}

// hourOf returns the start of the hour of a <table>/dt=YYYY-MM-DD/hr=HH dir.
func hourOf(dir string) (time.Time, bool) {
	parts := strings.Split(dir, "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[1], "dt=") || !strings.HasPrefix(parts[2], "hr=") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15", parts[1][3:]+" "+parts[2][3:])
	return t, err == nil
}

// mergers encode the rows of several files of a table into one file.
var mergers = map[string]func(ctx context.Context, store ObjectStore, keys []string, c compress.Codec, meta map[string]string) ([]byte, int64, error){
	TableEvents:      mergeFiles[EventRow],
	TableSegments:    mergeFiles[SegmentRow],
	TableFailed:      mergeFiles[FailedRow],
	TableCorrections: mergeFiles[CorrectionRow],
}

func mergeFiles[T any](ctx context.Context, store ObjectStore, keys []string, c compress.Codec, meta map[string]string) ([]byte, int64, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(c), parquet.CreatedBy("sillage", "", ""))
	var n int64
	for _, k := range keys {
		data, err := readObject(ctx, store, k)
		if err != nil {
			return nil, 0, err
		}
		rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, 0, fmt.Errorf("reading Parquet file %s: %w", k, err)
		}
		if _, err := w.Write(rows); err != nil {
			return nil, 0, fmt.Errorf("encoding rows of %s: %w", k, err)
		}
		n += int64(len(rows))
	}
	mk := make([]string, 0, len(meta))
	for k := range meta {
		mk = append(mk, k)
	}
	sort.Strings(mk)
	for _, k := range mk {
		w.SetKeyValueMetadata(k, meta[k])
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("closing the merged Parquet file: %w", err)
	}
	return buf.Bytes(), n, nil
}

// manifestFiles returns the data files named by the lake's batch manifests.
func manifestFiles(ctx context.Context, store ObjectStore) (map[string]bool, error) {
	objs, err := store.List(ctx, manifestRoot+"/")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, o := range objs {
		data, err := readObject(ctx, store, o.Key)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile: its batch was committed
		}
		if err != nil {
			return nil, err
		}
		m, err := decodeManifest(data)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", o.Key, err)
		}
		for _, f := range m.Files {
			out[f.Key] = true
		}
	}
	return out, nil
}

// Compact merges the small files of the closed hour partitions of the
// lake (see the comment above CompactOptions). It can run at any time,
// beside running sinks and another compaction, and be interrupted at any
// point: a later run finishes the work.
func Compact(ctx context.Context, store ObjectStore, opts CompactOptions) (CompactResult, error) {
	var res CompactResult
	if opts.Delay < 0 {
		return res, fmt.Errorf("compaction delay %s: want 0 or more", opts.Delay)
	}
	if opts.MaxBytes <= 0 {
		return res, fmt.Errorf("compaction max bytes %d: want more than 0", opts.MaxBytes)
	}
	c, err := codec(opts.Compression)
	if err != nil {
		return res, fmt.Errorf("compaction compression: %w", err)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tables := opts.Tables
	if len(tables) == 0 {
		tables = Tables
	}
	// Files first, then manifests: a sink stores a batch's manifest before
	// its files, so every file listed here that a sink may still rewrite
	// is named by a manifest read below.
	listed := map[string][]ObjectInfo{}
	for _, table := range tables {
		if _, ok := mergers[table]; !ok {
			return res, fmt.Errorf("compaction: unknown table %q (want one of %s)", table, strings.Join(Tables, ", "))
		}
		for _, prefix := range compactPrefixes(table, now(), opts) {
			objs, err := store.List(ctx, prefix)
			if err != nil {
				return res, err
			}
			for _, o := range objs {
				if strings.HasSuffix(o.Key, ".parquet") {
					listed[table] = append(listed[table], o)
				}
			}
		}
	}
	busy, err := manifestFiles(ctx, store)
	if err != nil {
		return res, fmt.Errorf("compaction: reading batch manifests: %w", err)
	}
	for _, table := range tables {
		merge := mergers[table]
		parquetObjs := listed[table]
		live, superseded := splitSuperseded(parquetObjs)
		// What an interrupted run left: originals beside their merged file.
		for _, o := range superseded {
			if busy[o.Key] {
				continue
			}
			if err := store.Delete(ctx, o.Key); err != nil {
				return res, err
			}
			res.SupersededDeleted++
			log.Info("compaction: deleted a file superseded by a merged file (left by an interrupted run)", "key", o.Key)
		}
		groups := map[string][]lakeFile{}
		var order []string
		for _, o := range live {
			f, ok := parseFileKey(o)
			if !ok {
				continue
			}
			hour, ok := hourOf(f.dir)
			if !ok || now().Sub(hour.Add(time.Hour)) < opts.Delay {
				continue
			}
			g := f.group()
			if groups[g] == nil {
				order = append(order, g)
			}
			groups[g] = append(groups[g], f)
		}
		for _, g := range order {
			files := groups[g]
			if len(files) < 2 {
				continue
			}
			if err := compactGroup(ctx, store, table, files, busy, merge, c, opts, log, &res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func compactGroup(ctx context.Context, store ObjectStore, table string, files []lakeFile, busy map[string]bool,
	merge func(context.Context, ObjectStore, []string, compress.Codec, map[string]string) ([]byte, int64, error),
	c compress.Codec, opts CompactOptions, log *slog.Logger, res *CompactResult) error {
	sort.Slice(files, func(i, j int) bool { return files[i].first < files[j].first })
	var size int64
	keys := make([]string, len(files))
	names := make([]string, len(files))
	for i, f := range files {
		if busy[f.Key] {
			log.Debug("compaction: skipping a group with a file of an uncommitted (or recent) batch", "key", f.Key)
			res.Skipped++
			return nil
		}
		size += f.Size
		keys[i], names[i] = f.Key, path.Base(f.Key)
	}
	if size > opts.MaxBytes {
		log.Debug("compaction: skipping a group larger than the merged file limit", "dir", files[0].dir, "bytes", size)
		res.Skipped++
		return nil
	}
	f0 := files[0]
	first, last := f0.first, files[len(files)-1].last
	for _, f := range files {
		first, last = min(first, f.first), max(last, f.last)
	}
	key := f0.dir + "/" + FileName(f0.topic, f0.partition, first, last)
	data, n, err := merge(ctx, store, keys, c, map[string]string{
		"sillage.topic":          f0.topic,
		"sillage.partition":      strconv.Itoa(int(f0.partition)),
		"sillage.first_offset":   strconv.FormatInt(first, 10),
		"sillage.last_offset":    strconv.FormatInt(last, 10),
		"sillage.compacted_from": strings.Join(names, ","),
	})
	if errors.Is(err, ErrNotFound) {
		// Another compaction merged this group meanwhile.
		log.Info("compaction: a file vanished while merging (another compaction?); skipping", "dir", f0.dir, "err", err)
		res.Skipped++
		return nil
	}
	if err != nil {
		return fmt.Errorf("compaction of %s: %w", f0.dir, err)
	}
	if _, err := store.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("compaction: writing %s: %w", key, err)
	}
	// Read back what the store holds before deleting anything.
	back, err := readObject(ctx, store, key)
	if err != nil {
		return fmt.Errorf("compaction: reading back %s: %w", key, err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(back), int64(len(back)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("compaction: reading back %s: %w", key, err)
	}
	if pf.NumRows() != n {
		return fmt.Errorf("compaction: %s holds %d rows, the %d originals %d; originals kept", key, pf.NumRows(), len(files), n)
	}
	if opts.afterPut != nil {
		if err := opts.afterPut(key); err != nil {
			return err
		}
	}
	for _, f := range files {
		if f.Key == key {
			continue
		}
		if err := store.Delete(ctx, f.Key); err != nil {
			return fmt.Errorf("compaction: deleting %s (merged into %s; the next run deletes it): %w", f.Key, key, err)
		}
	}
	res.Groups++
	res.FilesMerged += len(files)
	res.Rows += n
	res.BytesBefore += size
	res.BytesAfter += int64(len(data))
	log.Info("compaction: merged files", "table", table, "into", key, "files", len(files), "rows", n, "bytes_before", size, "bytes_after", len(data))
	return nil
}

// RunCompaction runs Compact over the sink's lake every
// Config.CompactInterval while Config.CompactAfter is set, until ctx ends.
// A failed run is logged and counted; the next one finishes its work.
func (s *Sink) RunCompaction(ctx context.Context) error {
	if s.cfg.CompactAfter <= 0 {
		return nil
	}
	log := s.log.With("component", "compaction")
	opts := CompactOptions{Delay: s.cfg.CompactAfter, MaxBytes: DefaultCompactOptions().MaxBytes,
		Compression: s.cfg.Compression, Lookback: s.cfg.CompactLookback, Now: s.now, Logger: log}
	for {
		res, err := Compact(ctx, s.store, opts)
		s.metrics.compactedFiles.Add(float64(res.FilesMerged + res.SupersededDeleted))
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.metrics.compactions.WithLabelValues("error").Inc()
			log.Warn("compaction failed; the next run finishes it", "err", err, "groups_merged", res.Groups)
		default:
			s.metrics.compactions.WithLabelValues("ok").Inc()
			if res.Groups > 0 || res.SupersededDeleted > 0 {
				log.Info("compaction run", "groups_merged", res.Groups, "files_merged", res.FilesMerged, "rows", res.Rows,
					"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "superseded_deleted", res.SupersededDeleted, "skipped", res.Skipped)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.CompactInterval):
		}
	}
}
