package sink

import "hash/maphash"

// recentIDs remembers the last n event ids a task wrote, to drop a copy of
// an event that reaches the lake twice. Upstream stages are exactly-once on
// Kafka, but a broker whose crash recovery can split a transaction (the
// embedded broker, killed inside a commit) may let the enricher emit an
// event again after a restart; the copy follows the original closely in the
// same partition (same key). Ids older than the last n, or seen before a
// sink restart that had already committed them, are not caught.
type recentIDs struct {
	seed  maphash.Seed
	set   map[uint64]struct{}
	order []uint64
	next  int
}

func newRecentIDs(n int) *recentIDs {
	if n <= 0 {
		return nil
	}
	return &recentIDs{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}, n), order: make([]uint64, 0, n)}
}

// seen records id and reports whether it was already there.
func (r *recentIDs) seen(id string) bool {
	if r == nil {
		return false
	}
	h := maphash.String(r.seed, id)
	if _, ok := r.set[h]; ok {
		return true
	}
	if len(r.order) < cap(r.order) {
		r.order = append(r.order, h)
	} else {
		delete(r.set, r.order[r.next])
		r.order[r.next] = h
		r.next = (r.next + 1) % len(r.order)
	}
	r.set[h] = struct{}{}
	return false
}
