package session

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// codecVersion is the first byte of every stored state; bump it when the
// layout changes and keep decoding the old one.
const codecVersion = 1

// state is one visitor's current session. Times are Unix milliseconds.
type state struct {
	id    [16]byte
	index uint32
	start int64
	last  int64
}

// encode lays out: version, 16-byte id, uvarint index, varint start,
// uvarint (last-start).
func (s state) encode() []byte {
	b := make([]byte, 0, 1+16+binary.MaxVarintLen32+2*binary.MaxVarintLen64)
	b = append(b, codecVersion)
	b = append(b, s.id[:]...)
	b = binary.AppendUvarint(b, uint64(s.index))
	b = binary.AppendVarint(b, s.start)
	return binary.AppendUvarint(b, uint64(s.last-s.start))
}

var errCorrupt = errors.New("corrupt session state")

func decode(b []byte) (state, error) {
	var s state
	if len(b) < 17 {
		return s, fmt.Errorf("%w: %d bytes", errCorrupt, len(b))
	}
	if b[0] != codecVersion {
		return s, fmt.Errorf("%w: unknown version %d", errCorrupt, b[0])
	}
	copy(s.id[:], b[1:17])
	b = b[17:]
	idx, n := binary.Uvarint(b)
	if n <= 0 || idx > 1<<31-1 {
		return s, fmt.Errorf("%w: bad index", errCorrupt)
	}
	b = b[n:]
	start, n := binary.Varint(b)
	if n <= 0 {
		return s, fmt.Errorf("%w: bad start", errCorrupt)
	}
	b = b[n:]
	span, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || span > 1<<62 {
		return s, fmt.Errorf("%w: bad span", errCorrupt)
	}
	s.index, s.start, s.last = uint32(idx), start, start+int64(span)
	return s, nil
}
