package schemas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"
)

// Avro binary encoding primitives for the direct codec (direct.go). They
// write exactly what goavro writes: zig-zag varints, length-prefixed strings
// and bytes, little-endian doubles, one-byte booleans, maps as one block
// followed by a zero count.

func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = appendLong(b, int64(len(p)))
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendDouble(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// appendStringMap writes a map<string> as goavro does (one block, then a zero
// count), with keys in sorted order so that the bytes are deterministic;
// goavro itself writes the entries in Go's random map order.
func appendStringMap(b []byte, m map[string]string) []byte {
	switch len(m) {
	case 0:
		return append(b, 0)
	case 1:
		b = appendLong(b, 1)
		for k, v := range m {
			b = appendString(appendString(b, k), v)
		}
		return append(b, 0)
	}
	var arr [8]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = appendLong(b, int64(len(keys)))
	for _, k := range keys {
		b = appendString(appendString(b, k), m[k])
	}
	return append(b, 0)
}

var errShort = errors.New("truncated: value runs past the end of the record")

// reader decodes Avro binary values from a byte slice. The first error sticks:
// later reads return zero values, so decoders check r.err once at the end.
// Every length is checked against the bytes left, so corrupt input can never
// make it allocate more than a small multiple of the input's size.
type reader struct {
	b   []byte
	off int
	err error
	id  int // the schema id, for error messages
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %w", r.off, err)
	}
}

func (r *reader) long() int64 {
	if r.err != nil {
		return 0
	}
	var u uint64
	for i, shift := 0, uint(0); i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		if r.off >= len(r.b) {
			r.fail(errShort)
			return 0
		}
		c := r.b[r.off]
		r.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			u |= uint64(c) << shift
			return int64(u>>1) ^ -int64(u&1)
		}
		u |= uint64(c&0x7f) << shift
	}
	r.fail(errors.New("varint overflows a long"))
	return 0
}

func (r *reader) int() int32 {
	v := r.long()
	if v != int64(int32(v)) {
		r.fail(fmt.Errorf("int out of range: %d", v))
		return 0
	}
	return int32(v)
}

// length reads a length prefix and checks it against the bytes left, each item
// taking at least each bytes.
func (r *reader) length(what string, each int) int {
	n := r.long()
	if r.err != nil {
		return 0
	}
	if n < 0 {
		r.fail(fmt.Errorf("negative %s length %d", what, n))
		return 0
	}
	if n > int64((len(r.b)-r.off)/each) {
		r.fail(fmt.Errorf("%s length %d: %w", what, n, errShort))
		return 0
	}
	return int(n)
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (r *reader) raw() []byte {
	n := r.length("string", 1)
	if r.err != nil {
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) str() string {
	p := r.raw()
	if len(p) == 0 {
		return ""
	}
	return string(p)
}

// bytes returns a copy of the next bytes value; empty is non-nil as goavro's.
func (r *reader) bytes() []byte {
	p := r.raw()
	if r.err != nil {
		return nil
	}
	return append([]byte{}, p...)
}

func (r *reader) bool() bool {
	if r.err != nil {
		return false
	}
	if r.off >= len(r.b) {
		r.fail(errShort)
		return false
	}
	c := r.b[r.off]
	r.off++
	if c > 1 {
		r.off--
		r.fail(fmt.Errorf("boolean byte %d is neither 0 nor 1", c))
		return false
	}
	return c == 1
}

func (r *reader) double() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 8 {
		r.fail(errShort)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return f
}

// stringMap reads a map<string>, in any number of blocks (negative counts
// carry a byte size, as the spec allows). An empty map reads as nil, as the
// goavro path returns it; a duplicate key is an error, as in goavro.
func (r *reader) stringMap() map[string]string {
	var m map[string]string
	for r.err == nil {
		n := r.long()
		if n < 0 {
			if n == math.MinInt64 {
				r.fail(errors.New("map block count out of range"))
				break
			}
			n = -n
			r.length("map block", 1) // the block's size in bytes, unused
		}
		if n == 0 || r.err != nil {
			break
		}
		if n > int64((len(r.b)-r.off)/2) { // each entry takes at least 2 bytes
			r.fail(fmt.Errorf("map block of %d entries: %w", n, errShort))
			break
		}
		if m == nil {
			m = make(map[string]string, min(n, 16))
		}
		for i := int64(0); i < n && r.err == nil; i++ {
			k := r.word()
			v := r.word()
			if _, dup := m[k]; dup && r.err == nil {
				r.fail(fmt.Errorf("duplicate map key %q", k))
			}
			m[k] = v
		}
	}
	if r.err != nil {
		return nil
	}
	return m
}

// end reports an error when bytes are left over or a read failed.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		return fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

// words caches the strings of low-cardinality fields (type, source, locale,
// library, country, browser…) so that decoding them allocates only the first
// time. It is a lossy two-way set-associative cache, safe for concurrent use;
// values longer than maxWord are not cached.
var (
	words    [2048][2]atomic.Pointer[string]
	wordSeed = maphash.MakeSeed()
)

const maxWord = 96

func (r *reader) word() string {
	p := r.raw()
	if len(p) == 0 {
		return ""
	}
	if len(p) > maxWord {
		return string(p)
	}
	h := maphash.Bytes(wordSeed, p)
	set := &words[h%uint64(len(words))]
	for i := range set {
		if s := set[i].Load(); s != nil && *s == string(p) {
			return *s
		}
	}
	s := string(p)
	way := (h >> 32) & 1
	if set[0].Load() == nil {
		way = 0
	}
	set[way].Store(&s)
	return s
}
