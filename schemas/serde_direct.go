package schemas

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
)

// encodeDirect appends the Confluent header and v's Avro body with the direct
// codec when v is the Go type of kind, growing buf once; ok is false when
// goavro must do it.
func (s *Serde) encodeDirect(kind Kind, id int, v Nativer, buf []byte) (out []byte, ok bool, err error) {
	if s.noDirect || kindOf(v) != kind {
		return nil, false, nil
	}
	size := 5
	switch x := v.(type) {
	case *RawEvent:
		size += rawSize(x)
	case *EnrichedEvent:
		size += enrichedSize(x)
	case *MembershipTransition:
		size += 100 + len(x.ID) + len(x.Segment) + len(x.ProfileID) + len(x.CauseEventID) + len(x.Reason)
	case *FailedEvent:
		size += 120 + len(x.ID) + len(x.Stage) + len(x.Reason) + len(x.Detail) + len(x.EventID) + len(x.Source) +
			len(x.SourceTopic) + len(x.Payload)
	case *Correction:
		size += 100 + len(x.ID) + len(x.ProfileID) + len(x.From) + len(x.Into) + len(x.VisitorID) +
			len(x.CauseEventID) + len(x.Source)
	}
	buf = binary.BigEndian.AppendUint32(append(slices.Grow(buf, size), 0), uint32(id))
	switch x := v.(type) {
	case *RawEvent:
		return appendRaw(buf, x), true, nil
	case *EnrichedEvent:
		return appendEnriched(buf, x), true, nil
	case *MembershipTransition:
		if out, err = appendMembership(buf, x); err != nil {
			return nil, true, fmt.Errorf("encoding %s: %w", kind, err)
		}
		return out, true, nil
	case *Correction:
		if out, err = appendCorrection(buf, x); err != nil {
			return nil, true, fmt.Errorf("encoding %s: %w", kind, err)
		}
		return out, true, nil
	}
	return appendFailed(buf, v.(*FailedEvent)), true, nil
}

// kindOf is the contract of a Go type the direct codec knows, else "".
func kindOf(v Nativer) Kind {
	switch v.(type) {
	case *RawEvent:
		return KindRaw
	case *EnrichedEvent:
		return KindEnriched
	case *MembershipTransition:
		return KindMembership
	case *FailedEvent:
		return KindFailed
	case *Correction:
		return KindCorrection
	}
	return ""
}

// directReader returns a reader over data's Avro body when data is framed with
// a schema id whose schema is the latest version of kind: one this serde
// registered, or one it looked up and found to be that schema. Anything else
// (older or foreign writer schemas, unknown ids, bad framing) goes through
// goavro, which resolves it against the registry.
func (s *Serde) directReader(data []byte, kind Kind) (reader, bool) {
	if s.noDirect || len(data) < 5 || data[0] != 0 {
		return reader{}, false
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	k, ok := s.direct[id]
	if !ok {
		s.mu.RLock()
		k, ok = s.learned[id]
		s.mu.RUnlock()
	}
	if !ok || k != kind {
		return reader{}, false
	}
	return reader{b: data[5:], id: id}, true
}

// finish reports a failed read or trailing bytes, wrapped as the goavro path
// wraps its decoding errors. A value is returned with an error only when the
// Avro decoded and the contract's check failed, as on the goavro path.
func (r *reader) finish() error {
	if err := r.end(); err != nil {
		return fmt.Errorf("decoding Avro with schema id %d: %w", r.id, err)
	}
	return nil
}

// latestKindOf reports which contract's latest schema text is, compared as
// JSON so that a registry reformatting the text (whitespace, key order) does
// not matter.
func latestKindOf(text string) (Kind, bool) {
	norm := normalJSON(text)
	for _, k := range Kinds {
		if v := Latest(k); v != nil && (v.Schema == text || norm != "" && normalJSON(v.Schema) == norm) {
			return k, true
		}
	}
	return "", false
}

func normalJSON(text string) string {
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
