package schemas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/linkedin/goavro/v2"
)

// Registry is the part of a Confluent-compatible schema registry that Sillage
// uses. Subjects follow the topic name strategy: "<topic>-value".
type Registry interface {
	// Register returns the id of schema under subject, registering it when new.
	Register(ctx context.Context, subject, schema string) (int, error)
	// SchemaByID returns the schema text of an id.
	SchemaByID(ctx context.Context, id int) (string, error)
}

// Nativer is implemented by every contract's Go type.
type Nativer interface {
	Native() map[string]any
}

// ErrUnknownSchema wraps decoding errors caused by a schema id the registry
// does not know: the record is bad input.
var ErrUnknownSchema = errors.New("unknown schema id")

// ErrRegistryUnavailable wraps errors reaching the schema registry: the
// record may be fine, retry later.
var ErrRegistryUnavailable = errors.New("schema registry unavailable")

// ErrNotAvro is returned for a value without the Confluent wire-format header.
var ErrNotAvro = errors.New("not Confluent-framed Avro: missing magic byte 0 or shorter than 5 bytes")

// Serde encodes values with the latest version of each contract and decodes
// values written with any schema the registry knows. It is safe for
// concurrent use.
type Serde struct {
	reg     Registry
	writers map[Kind]writer

	// direct maps the ids this serde registered to their contract: records
	// with these ids are read and written by the direct codec. Read-only
	// after NewSerde.
	direct map[int]Kind
	// noDirect sends everything through goavro (tests and benchmarks).
	noDirect bool

	mu      sync.RWMutex
	byID    map[int]*goavro.Codec
	failed  map[int]error
	learned map[int]Kind // ids looked up whose schema is the latest of a contract
}

type writer struct {
	id    int
	codec *goavro.Codec
}

// NewSerde registers the latest version of each contract under
// "<topic>-value" for the topics given and returns a Serde that writes with
// those ids.
func NewSerde(ctx context.Context, reg Registry, topics map[Kind]string) (*Serde, error) {
	s := &Serde{
		reg: reg, writers: map[Kind]writer{}, direct: map[int]Kind{},
		byID: map[int]*goavro.Codec{}, failed: map[int]error{}, learned: map[int]Kind{},
	}
	for kind, topic := range topics {
		v := Latest(kind)
		if v == nil {
			return nil, fmt.Errorf("no schema for contract %q", kind)
		}
		id, err := reg.Register(ctx, topic+"-value", v.Schema)
		if err != nil {
			return nil, fmt.Errorf("registering schema %s v%d for topic %s: %w", kind, v.Version, topic, err)
		}
		s.writers[kind] = writer{id: id, codec: v.Codec}
		s.byID[id] = v.Codec
		s.direct[id] = kind
	}
	return s, nil
}

// Encode appends the Confluent-framed Avro encoding of v to buf.
func (s *Serde) Encode(kind Kind, v Nativer, buf []byte) ([]byte, error) {
	w, ok := s.writers[kind]
	if !ok {
		return nil, fmt.Errorf("encoding %s: contract not registered with this serde", kind)
	}
	if out, ok, err := s.encodeDirect(kind, w.id, v, buf); ok {
		return out, err
	}
	buf = append(buf, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(w.id))
	out, err := w.codec.BinaryFromNative(buf, v.Native())
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", kind, err)
	}
	return out, nil
}

// SchemaID returns the id a contract is written with.
func (s *Serde) SchemaID(kind Kind) int { return s.writers[kind].id }

// DecodeNative decodes a framed value into goavro's native form.
func (s *Serde) DecodeNative(ctx context.Context, data []byte) (map[string]any, error) {
	if len(data) < 5 || data[0] != 0 {
		return nil, ErrNotAvro
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	codec, err := s.codec(ctx, id)
	if err != nil {
		return nil, err
	}
	native, rest, err := codec.NativeFromBinary(data[5:])
	if err != nil {
		return nil, fmt.Errorf("decoding Avro with schema id %d: %w", id, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decoding Avro with schema id %d: %d trailing bytes", id, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding Avro with schema id %d: not a record", id)
	}
	return m, nil
}

// DecodeRaw decodes a raw event.
func (s *Serde) DecodeRaw(ctx context.Context, data []byte) (*RawEvent, error) {
	if r, ok := s.directReader(data, KindRaw); ok {
		e := new(RawEvent)
		cerr := r.readRaw(e)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return e, cerr
	}
	m, err := s.DecodeNative(ctx, data)
	if err != nil {
		return nil, err
	}
	e := new(RawEvent)
	return e, e.FromNative(m)
}

// DecodeEnriched decodes an enriched event.
func (s *Serde) DecodeEnriched(ctx context.Context, data []byte) (*EnrichedEvent, error) {
	if r, ok := s.directReader(data, KindEnriched); ok {
		e := new(EnrichedEvent)
		cerr := r.readEnriched(e)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return e, cerr
	}
	m, err := s.DecodeNative(ctx, data)
	if err != nil {
		return nil, err
	}
	e := new(EnrichedEvent)
	return e, e.FromNative(m)
}

// DecodeMembership decodes a membership transition.
func (s *Serde) DecodeMembership(ctx context.Context, data []byte) (*MembershipTransition, error) {
	if r, ok := s.directReader(data, KindMembership); ok {
		t := new(MembershipTransition)
		cerr := r.readMembership(t)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return t, cerr
	}
	m, err := s.DecodeNative(ctx, data)
	if err != nil {
		return nil, err
	}
	t := new(MembershipTransition)
	return t, t.FromNative(m)
}

// DecodeFailed decodes a failed event.
func (s *Serde) DecodeFailed(ctx context.Context, data []byte) (*FailedEvent, error) {
	if r, ok := s.directReader(data, KindFailed); ok {
		f := new(FailedEvent)
		cerr := r.readFailed(f)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return f, cerr
	}
	m, err := s.DecodeNative(ctx, data)
	if err != nil {
		return nil, err
	}
	f := new(FailedEvent)
	return f, f.FromNative(m)
}

// DecodeCorrection decodes a correction.
func (s *Serde) DecodeCorrection(ctx context.Context, data []byte) (*Correction, error) {
	if r, ok := s.directReader(data, KindCorrection); ok {
		c := new(Correction)
		cerr := r.readCorrection(c)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return c, cerr
	}
	m, err := s.DecodeNative(ctx, data)
	if err != nil {
		return nil, err
	}
	c := new(Correction)
	return c, c.FromNative(m)
}

func (s *Serde) codec(ctx context.Context, id int) (*goavro.Codec, error) {
	s.mu.RLock()
	c, ok := s.byID[id]
	ferr := s.failed[id]
	s.mu.RUnlock()
	if ok {
		return c, nil
	}
	if ferr != nil {
		return nil, ferr
	}
	text, err := s.reg.SchemaByID(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownSchema) {
			err = fmt.Errorf("looking up schema id %d: %w", id, err)
			s.mu.Lock()
			s.failed[id] = err
			s.mu.Unlock()
			return nil, err
		}
		// Not cached: the registry may come back.
		return nil, fmt.Errorf("looking up schema id %d: %w: %w", id, ErrRegistryUnavailable, err)
	}
	c, err = goavro.NewCodec(text)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("compiling schema id %d: %w", id, err)
		s.failed[id] = err
		return nil, err
	}
	s.byID[id] = c
	if k, ok := latestKindOf(text); ok {
		s.learned[id] = k
	}
	return c, nil
}
