package dedup

import (
	"encoding/binary"
	"hash/fnv"
	"sort"
	"time"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// Verdict is the outcome of Check.
type Verdict int

// The verdicts.
const (
	New       Verdict = iota // first time seen: process it
	Duplicate                // same id, same content: a retry, drop it
	Conflict                 // same id, different content: report it
)

type entry struct {
	key  string
	seen int64 // unix ms of receipt
}

// Filter is the dedup state of one partition.
type Filter struct {
	store  *stream.Store
	window time.Duration
	order  []entry // by receipt time, for expiry
	head   int
}

// NewFilter wraps a restored store.
func NewFilter(store *stream.Store, window time.Duration) *Filter {
	f := &Filter{store: store, window: window}
	store.Range(func(k string, v []byte) bool {
		if len(v) == 16 {
			f.order = append(f.order, entry{key: k, seen: int64(binary.BigEndian.Uint64(v))})
		}
		return true
	})
	sort.Slice(f.order, func(i, j int) bool { return f.order[i].seen < f.order[j].seen })
	return f
}

// Key is the dedup key of an event.
func Key(e *schemas.RawEvent) string { return e.Source + "\x00" + e.EventID }

// Fingerprint hashes the content that makes an event itself. The timestamp
// is left out: an event sent without one gets its receipt time, which
// differs between a request and its retry, and a client that retries keeps
// the content (and its own timestamp) anyway.
func Fingerprint(e *schemas.RawEvent) uint64 {
	h := fnv.New64a()
	for _, s := range []string{e.Type, e.Event, e.AnonymousID, e.UserID, e.PreviousID, e.GroupID, e.PropertiesJSON, e.TraitsJSON} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Check records the event and says whether it was seen before.
func (f *Filter) Check(e *schemas.RawEvent) Verdict {
	key := Key(e)
	fp := Fingerprint(e)
	if v, ok := f.store.Get(key); ok && len(v) == 16 {
		if binary.BigEndian.Uint64(v[8:]) == fp {
			return Duplicate
		}
		return Conflict
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(e.ReceivedAt))
	binary.BigEndian.PutUint64(v[8:], fp)
	f.store.Put(key, v)
	f.order = append(f.order, entry{key: key, seen: e.ReceivedAt})
	return New
}

// Expire forgets entries received before now - window. It returns how many
// were removed.
func (f *Filter) Expire(now time.Time) int {
	limit := now.Add(-f.window).UnixMilli()
	n := 0
	for f.head < len(f.order) && f.order[f.head].seen < limit {
		k := f.order[f.head].key
		if v, ok := f.store.Get(k); ok && len(v) == 16 && int64(binary.BigEndian.Uint64(v)) == f.order[f.head].seen {
			f.store.Delete(k)
			n++
		}
		f.order[f.head] = entry{}
		f.head++
	}
	if f.head > 4096 && f.head*2 > len(f.order) {
		f.order = append([]entry(nil), f.order[f.head:]...)
		f.head = 0
	}
	return n
}

// Len returns the number of remembered events.
func (f *Filter) Len() int { return f.store.Len() }
