package enricher

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// Reasons a raw record is routed to the failed topic (the FailedEvent's
// Reason and the metric's label).
const (
	ReasonUndecodable    = "undecodable"          // not a raw event in a known schema
	ReasonMissingEventID = "missing_event_id"     // no messageId
	ReasonMissingID      = "missing_identity"     // neither a usable anonymous id nor user id
	ReasonInvalidType    = "invalid_type"         // not track, page, screen, identify, group, alias
	ReasonInvalidTime    = "invalid_time"         // no receipt time, in the event nor on the record
	ReasonEncode         = "encode_failed"        // the enriched event could not be encoded
	ReasonDuplicateID    = "duplicate_message_id" // a different event already used this (source, messageId)
)

var reasons = []string{ReasonUndecodable, ReasonMissingEventID, ReasonMissingID, ReasonInvalidType, ReasonInvalidTime, ReasonEncode, ReasonDuplicateID}

// rejection is why an event cannot be enriched.
type rejection struct {
	reason string
	detail string
}

func reject(reason, format string, args ...any) *rejection {
	return &rejection{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// failedID is deterministic: one input record gives one failed record.
func failedID(rec *kgo.Record) string {
	return "enricher/" + rec.Topic + "/" + strconv.FormatInt(int64(rec.Partition), 10) + "/" + strconv.FormatInt(rec.Offset, 10)
}

// fail produces the failed record of rec. raw may be nil (undecodable).
// An error here is a real fault (the failed contract cannot be encoded).
func (t *task) fail(_ context.Context, out *stream.Output, rec *kgo.Record, raw *schemas.RawEvent, r *rejection) error {
	f := schemas.FailedEvent{
		ID:              failedID(rec),
		Stage:           "enricher",
		Reason:          r.reason,
		Detail:          r.detail,
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		Payload:         rec.Value,
		FailedAt:        t.e.clock().UnixMilli(),
	}
	if raw != nil {
		f.EventID, f.Source = raw.EventID, raw.Source
	}
	v, err := t.e.serde.Encode(schemas.KindFailed, &f, make([]byte, 0, 256+len(rec.Value)))
	if err != nil {
		return fmt.Errorf("encoding failed event for %s: %w", f.ID, err)
	}
	out.Produce(&kgo.Record{Topic: t.e.topics.Failed, Key: rec.Key, Value: v})
	t.e.m.failed.WithLabelValues(r.reason).Inc()
	return nil
}
