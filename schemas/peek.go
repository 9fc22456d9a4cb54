package schemas

import (
	"encoding/binary"
	"errors"
)

// PeekEventID returns the event id of an encoded raw or enriched event
// without decoding the rest: event_id is the first field of RawEvent (and
// EnrichedEvent starts with the RawEvent it embeds) in every schema
// version, which TestEventIDStaysFirst checks. It is how the collector's
// spool replay recognises events Kafka already has.
func PeekEventID(value []byte) (string, error) {
	if len(value) < 5 || value[0] != 0 {
		return "", errors.New("not a Confluent-framed Avro value")
	}
	p := value[5:]
	n, k := binary.Varint(p) // Avro longs are zigzag varints
	if k <= 0 || n < 0 || n > int64(len(p)-k) {
		return "", errors.New("event_id is truncated")
	}
	return string(p[k : k+int(n)]), nil
}
