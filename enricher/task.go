package enricher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/enricher/dedup"
	"github.com/sillage/sillage/enricher/identity"
	"github.com/sillage/sillage/enricher/session"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// task enriches the records of one raw partition.
type task struct {
	e        *Enricher
	tp       stream.TopicPartition
	ids      *identity.Resolver
	sessions *session.Tracker
	dedup    *dedup.Filter
	// merges are the profile merges of the event being processed.
	merges []identity.Merge
	// sessionMerges are the session merges of the event being processed.
	sessionMerges []session.Correction
	busy          time.Duration // processing time since the last Tick
}

// Process enriches one raw record. Bad input goes to the failed topic; an
// error is returned only for a real fault (the context ended while the
// schema was being fetched, or a failed record could not be encoded).
func (t *task) Process(ctx context.Context, rec *kgo.Record, out *stream.Output) error {
	start := time.Now()
	defer func() { t.busy += time.Since(start) }()
	t.e.m.in.Inc()

	raw, err := t.e.serde.DecodeRaw(ctx, rec.Value)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return ctxErr
		}
		if errors.Is(err, schemas.ErrRegistryUnavailable) {
			// Not the record's fault: stop (the batch's transaction aborts
			// and nothing is committed) rather than route a good record.
			return err
		}
		if raw != nil {
			// The Avro decoded but the contract's own checks failed (no
			// event id or type): name the precise reason when we can.
			if r := check(raw, rec.Timestamp.UnixMilli()); r != nil {
				return t.fail(ctx, out, rec, raw, r)
			}
		}
		return t.fail(ctx, out, rec, nil, reject(ReasonUndecodable, "%v", err))
	}
	if r := check(raw, rec.Timestamp.UnixMilli()); r != nil {
		return t.fail(ctx, out, rec, raw, r)
	}
	switch t.dedup.Check(raw) {
	case dedup.Duplicate:
		t.e.m.duplicates.Inc()
		return nil
	case dedup.Conflict:
		return t.fail(ctx, out, rec, raw, reject(ReasonDuplicateID,
			"messageId %q of source %q was already used by a different event within the dedup window", raw.EventID, raw.Source))
	}
	var ev schemas.EnrichedEvent
	if r := t.enrich(raw, rec.Timestamp.UnixMilli(), &ev); r != nil {
		return t.fail(ctx, out, rec, raw, r)
	}
	value, err := t.e.serde.Encode(schemas.KindEnriched, &ev, make([]byte, 0, 512+len(rec.Value)))
	if err != nil {
		return t.fail(ctx, out, rec, raw, reject(ReasonEncode, "%v", err))
	}
	out.Produce(&kgo.Record{Topic: t.e.topics.Enriched, Key: []byte(ev.ProfileID), Value: value})
	t.e.m.out.Inc()
	for _, m := range t.merges {
		if err := t.correct(out, &ev, schemas.ProfilesMerged, m.From, m.Into, m.Visitor, 0, 0); err != nil {
			return err
		}
	}
	for _, c := range t.sessionMerges {
		if err := t.correct(out, &ev, schemas.SessionsMerged, c.From, c.Into, c.Visitor, c.FromIndex, c.IntoIndex); err != nil {
			return err
		}
	}
	return nil
}

// correct emits a correction caused by ev on the corrections topic, keyed by
// the surviving profile. Its id is deterministic, so a batch redone after an
// aborted transaction emits the same record.
func (t *task) correct(out *stream.Output, ev *schemas.EnrichedEvent, kind schemas.CorrectionKind, from, into, visitor string, fromIndex, intoIndex int32) error {
	profile := ev.ProfileID
	if kind == schemas.ProfilesMerged {
		profile = into
	}
	c := schemas.Correction{
		ID:   schemas.CorrectionID(kind.String(), from, into, ev.Raw.EventID),
		Kind: kind, ProfileID: profile, From: from, Into: into, VisitorID: visitor,
		FromIndex: fromIndex, IntoIndex: intoIndex,
		CauseEventID: ev.Raw.EventID, Source: ev.Raw.Source, EventTime: ev.EventTime, CorrectedAt: ev.EnrichedAt,
	}
	value, err := t.e.serde.Encode(schemas.KindCorrection, &c, nil)
	if err != nil {
		return fmt.Errorf("encoding %s correction: %w", kind, err)
	}
	out.Produce(&kgo.Record{Topic: t.e.topics.Corrections, Key: []byte(profile), Value: value})
	t.e.m.corrections.WithLabelValues(kind.String()).Inc()
	return nil
}

// Tick writes the batch's session changes to the store (the runner calls it
// after every batch, inside the batch's transaction) and records the
// batch's processing time.
func (t *task) Tick(_ context.Context, now time.Time, _ *stream.Output) error {
	t.sessions.Flush()
	t.dedup.Expire(now)
	if t.busy > 0 {
		t.e.m.batchSeconds.Observe(t.busy.Seconds())
		t.busy = 0
	}
	return nil
}

// Close releases nothing: the stores belong to the runner, which rebuilds
// them from their changelogs, so unflushed session changes are dropped with
// the transaction they belonged to.
func (t *task) Close() error { return nil }
