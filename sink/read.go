package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// The read side is small on purpose: it lets tests and tools count and
// inspect lake rows with parquet-go. Analysts use DuckDB, Spark, Trino…
// on the same files.

// Files lists the Parquet files of a table, sorted by key, without the
// files a merged file of the same directory supersedes (a compaction in
// progress or interrupted: see Compact).
func Files(ctx context.Context, store ObjectStore, table string) ([]ObjectInfo, error) {
	objs, err := store.List(ctx, table+"/")
	if err != nil {
		return nil, err
	}
	out := objs[:0]
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") {
			out = append(out, o)
		}
	}
	live, _ := splitSuperseded(out)
	return live, nil
}

// ReadTable reads every row of a table, file after file in key order.
func ReadTable[T any](ctx context.Context, store ObjectStore, table string) ([]T, error) {
	files, err := Files(ctx, store, table)
	if err != nil {
		return nil, err
	}
	var rows []T
	for _, f := range files {
		data, err := readObject(ctx, store, f.Key)
		if err != nil {
			return nil, err
		}
		got, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("reading Parquet file %s: %w", f.Key, err)
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// CountRows counts the rows of a table from the files' footers.
func CountRows(ctx context.Context, store ObjectStore, table string) (int64, error) {
	files, err := Files(ctx, store, table)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		data, err := readObject(ctx, store, f.Key)
		if err != nil {
			return 0, err
		}
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return 0, fmt.Errorf("opening Parquet file %s: %w", f.Key, err)
		}
		n += pf.NumRows()
	}
	return n, nil
}

// ReadEvents reads the events table of the lake at root (a path or file:// URL).
func ReadEvents(ctx context.Context, root string) ([]EventRow, error) {
	return readRoot[EventRow](ctx, root, TableEvents)
}

// ReadSegments reads the segments table of the lake at root.
func ReadSegments(ctx context.Context, root string) ([]SegmentRow, error) {
	return readRoot[SegmentRow](ctx, root, TableSegments)
}

// ReadCorrections reads every row of the corrections table under root.
func ReadCorrections(ctx context.Context, root string) ([]CorrectionRow, error) {
	return readRoot[CorrectionRow](ctx, root, TableCorrections)
}

// ReadFailed reads the failed table of the lake at root.
func ReadFailed(ctx context.Context, root string) ([]FailedRow, error) {
	return readRoot[FailedRow](ctx, root, TableFailed)
}

// CountRowsAt counts the rows of a table of the lake at root.
func CountRowsAt(ctx context.Context, root, table string) (int64, error) {
	store, err := OpenStore(root)
	if err != nil {
		return 0, err
	}
	return CountRows(ctx, store, table)
}

func readRoot[T any](ctx context.Context, root, table string) ([]T, error) {
	store, err := OpenStore(root)
	if err != nil {
		return nil, err
	}
	return ReadTable[T](ctx, store, table)
}

func readObject(ctx context.Context, store ObjectStore, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return data, nil
}
