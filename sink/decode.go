package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sillage/sillage/schemas"
)

// add decodes a record into a row of its table, or into a failed row when
// it cannot be decoded, and appends it to the open batch. It fails only when
// decoding keeps failing for a reason outside the record (the schema
// registry unreachable) or ctx ends.
func (t *task) add(ctx context.Context, rec *kgo.Record) error {
	s := t.s
	var bad error
	switch t.table {
	case TableEvents:
		e, b, err := decode(ctx, t, rec, s.serde.DecodeEnriched)
		if err != nil {
			return err
		}
		if bad = b; bad == nil {
			if t.recent.seen(e.Raw.Source + "\x00" + e.Raw.EventID) {
				s.metrics.duplicates.Inc()
				break
			}
			row := eventRow(e)
			addRow(t.cur, s.codec, partitionOf(TableEvents, row.EventTime), row, rec.Offset)
		}
	case TableSegments:
		m, b, err := decode(ctx, t, rec, s.serde.DecodeMembership)
		if err != nil {
			return err
		}
		if bad = b; bad == nil {
			addRow(t.cur, s.codec, partitionOf(TableSegments, m.EventTime), segmentRow(m), rec.Offset)
		}
	case TableCorrections:
		c, b, err := decode(ctx, t, rec, s.serde.DecodeCorrection)
		if err != nil {
			return err
		}
		if bad = b; bad == nil {
			addRow(t.cur, s.codec, partitionOf(TableCorrections, c.EventTime), correctionRow(c), rec.Offset)
		}
	case TableFailed:
		f, b, err := decode(ctx, t, rec, s.serde.DecodeFailed)
		if err != nil {
			return err
		}
		if bad = b; bad == nil {
			addRow(t.cur, s.codec, partitionOf(TableFailed, f.FailedAt), failedRow(f), rec.Offset)
		}
	}
	if bad != nil {
		row := t.decodeFailure(rec, bad)
		addRow(t.cur, s.codec, partitionOf(TableFailed, row.FailedAt), row, rec.Offset)
		s.metrics.decodeFailures.WithLabelValues(t.table).Inc()
		t.log.Warn("record could not be decoded; written to the failed table",
			"offset", rec.Offset, "err", bad)
	}
	t.cur.note(rec.Offset, len(rec.Value), s.now())
	s.metrics.bufferedRows.Inc()
	return nil
}

// decodeFailure is the failed-table row of an undecodable record. Its id
// and failed_at (the record's Kafka timestamp) are deterministic, so a
// re-read writes the same row.
func (t *task) decodeFailure(rec *kgo.Record, err error) FailedRow {
	at := rec.Timestamp.UnixMilli()
	if rec.Timestamp.IsZero() || at <= 0 {
		at = 0
	}
	reason := "undecodable"
	if len(rec.Value) == 0 {
		reason = "empty_value"
	}
	return FailedRow{
		ID:              sinkFailureID(rec.Topic, rec.Partition, rec.Offset),
		Stage:           "sink",
		Reason:          reason,
		Detail:          fmt.Sprintf("decoding a %s record: %v", t.table, err),
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		Payload:         bytes.Clone(rec.Value), // nil (NULL) for a tombstone
		FailedAt:        at,
	}
}

// decode runs fn on the record value. A failure caused by the record is
// returned as bad; a failure from outside (registry unreachable) is retried
// and, if it persists, returned as err.
func decode[T any](ctx context.Context, t *task, rec *kgo.Record, fn func(context.Context, []byte) (T, error)) (v T, bad, err error) {
	if len(rec.Value) == 0 {
		return v, errors.New("empty record value"), nil
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		v, derr := fn(ctx, rec.Value)
		if derr == nil {
			return v, nil, nil
		}
		if !transient(derr) {
			return v, derr, nil
		}
		if ctx.Err() != nil {
			return v, nil, fmt.Errorf("sink: decoding %s[%d]@%d: %w (last error: %w)", rec.Topic, rec.Partition, rec.Offset, ctx.Err(), derr)
		}
		if t.s.cfg.WriteRetries >= 0 && attempt >= t.s.cfg.WriteRetries {
			return v, nil, fmt.Errorf("sink: decoding %s[%d]@%d: %w", rec.Topic, rec.Partition, rec.Offset, derr)
		}
		t.log.Warn("decoding failed for a reason outside the record; retrying", "offset", rec.Offset, "err", derr)
		select {
		case <-ctx.Done():
			return v, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, t.s.cfg.RetryMaxBackoff)
	}
}

// transient reports whether a decoding error comes from outside the record:
// the schema registry unreachable or failing, or the context ending.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, schemas.ErrRegistryUnavailable) {
		return true
	}
	if errors.Is(err, schemas.ErrUnknownSchema) {
		return false
	}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode >= 500 || re.StatusCode == 429
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}
