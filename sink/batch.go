package sink

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// hourMillis is the width of a lake partition.
const hourMillis = int64(time.Hour / time.Millisecond)

// maxMillis is the last millisecond of year 9999: later event times are
// placed there so partition names stay four-digit years.
var maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// partitionKey names one file of a batch: a table and an hour of event time.
type partitionKey struct {
	table string
	hour  int64 // event time in ms truncated to the hour
}

func partitionOf(table string, eventTimeMs int64) partitionKey {
	t := min(max(eventTimeMs, 0), maxMillis)
	return partitionKey{table: table, hour: t - t%hourMillis}
}

// dir returns the Hive-style partition prefix: <table>/dt=YYYY-MM-DD/hr=HH.
func (k partitionKey) dir() string {
	t := time.UnixMilli(k.hour).UTC()
	return k.table + "/dt=" + t.Format("2006-01-02") + "/hr=" + t.Format("15")
}

// FileName is the deterministic name of the file holding the rows of a
// topic partition with offsets first..last in one partition directory.
func FileName(topic string, partition int32, first, last int64) string {
	return topic + "-p" + strconv.Itoa(int(partition)) + "-" +
		strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + ".parquet"
}

// fileWriter accumulates the rows of one output file.
type fileWriter interface {
	rows() int
	offsets() (first, last int64)
	// finish writes the footer and returns the encoded file.
	finish(meta map[string]string) ([]byte, error)
}

// writeChunk is how many rows are handed to parquet-go at once.
const writeChunk = 512

// rowWriter encodes rows of type T into an in-memory Parquet file as they
// arrive; memory is roughly the compressed size plus one page per column.
type rowWriter[T any] struct {
	buf         bytes.Buffer
	w           *parquet.GenericWriter[T]
	pending     []T
	n           int
	first, last int64
	err         error
}

func newRowWriter[T any](c compress.Codec) *rowWriter[T] {
	rw := &rowWriter[T]{first: -1, last: -1}
	rw.w = parquet.NewGenericWriter[T](&rw.buf,
		parquet.Compression(c),
		parquet.CreatedBy("sillage", "", ""),
	)
	return rw
}

func (rw *rowWriter[T]) add(row T, offset int64) {
	if rw.first < 0 {
		rw.first = offset
	}
	rw.last = offset
	rw.n++
	rw.pending = append(rw.pending, row)
	if len(rw.pending) >= writeChunk {
		rw.flushPending()
	}
}

func (rw *rowWriter[T]) flushPending() {
	if rw.err == nil && len(rw.pending) > 0 {
		_, rw.err = rw.w.Write(rw.pending)
	}
	clear(rw.pending)
	rw.pending = rw.pending[:0]
}

func (rw *rowWriter[T]) rows() int                    { return rw.n }
func (rw *rowWriter[T]) offsets() (first, last int64) { return rw.first, rw.last }

func (rw *rowWriter[T]) finish(meta map[string]string) ([]byte, error) {
	rw.flushPending()
	if rw.err != nil {
		return nil, fmt.Errorf("encoding Parquet rows: %w", rw.err)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rw.w.SetKeyValueMetadata(k, meta[k])
	}
	if err := rw.w.Close(); err != nil {
		return nil, fmt.Errorf("closing Parquet file: %w", err)
	}
	return rw.buf.Bytes(), nil
}

// batch is what one task holds between two rolls: the rows of the records
// with offsets first..last, split into one file per table and hour.
type batch struct {
	first, last int64
	rows        int
	bytes       int64
	opened      time.Time
	files       map[partitionKey]fileWriter
}

func newBatch() *batch {
	return &batch{first: -1, last: -1, files: map[partitionKey]fileWriter{}}
}

func (b *batch) empty() bool { return b.rows == 0 }

// note records that the record at offset (of size bytes) is in the batch.
func (b *batch) note(offset int64, size int, now time.Time) {
	if b.first < 0 {
		b.first = offset
		b.opened = now
	}
	b.last = offset
	b.rows++
	b.bytes += int64(size)
}

// addRow appends a row to the file of its partition.
func addRow[T any](b *batch, c compress.Codec, key partitionKey, row T, offset int64) {
	fw, ok := b.files[key]
	if !ok {
		fw = newRowWriter[T](c)
		b.files[key] = fw
	}
	fw.(*rowWriter[T]).add(row, offset)
}

// sealedFile is an encoded file ready to be stored.
type sealedFile struct {
	Table string `json:"table"`
	Key   string `json:"key"`
	Rows  int    `json:"rows"`
	Bytes int    `json:"bytes"`
	data  []byte
}

// seal encodes every file of the batch, in key order.
func (b *batch) seal(topic string, partition int32) ([]sealedFile, error) {
	keys := make([]partitionKey, 0, len(b.files))
	for k := range b.files {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].table != keys[j].table {
			return keys[i].table < keys[j].table
		}
		return keys[i].hour < keys[j].hour
	})
	out := make([]sealedFile, 0, len(keys))
	for _, k := range keys {
		fw := b.files[k]
		first, last := fw.offsets()
		data, err := fw.finish(map[string]string{
			"sillage.topic":        topic,
			"sillage.partition":    strconv.Itoa(int(partition)),
			"sillage.first_offset": strconv.FormatInt(first, 10),
			"sillage.last_offset":  strconv.FormatInt(last, 10),
		})
		if err != nil {
			return nil, fmt.Errorf("file %s of %s[%d] offsets %d-%d: %w", k.dir(), topic, partition, first, last, err)
		}
		out = append(out, sealedFile{
			Table: k.table,
			Key:   k.dir() + "/" + FileName(topic, partition, first, last),
			Rows:  fw.rows(),
			Bytes: len(data),
			data:  data,
		})
	}
	return out, nil
}
