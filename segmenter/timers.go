package segmenter

import "container/heap"

// timer is one pending deadline in a partition's index. The profile state
// is the truth: an entry whose state no longer has this deadline is stale
// and skipped when popped.
type timer struct {
	due     int64
	profile string
	segment string
}

// timerHeap is a min-heap of timers by due time.
type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (h *timerHeap) add(t timer) { heap.Push(h, t) }

// popDue removes and returns the earliest timer due at or before wm.
func (h *timerHeap) popDue(wm int64) (timer, bool) {
	if len(*h) == 0 || (*h)[0].due > wm {
		return timer{}, false
	}
	return heap.Pop(h).(timer), true
}

// timerKey names one profile's timer for one segment.
type timerKey struct{ profile, segment string }

// timerIndex is a partition's pending timers: a heap in due order plus, per
// key, the due in the profile state (live) and the due of the one heap
// entry that stands for the key (queued). A timer moved later (a sliding
// window's expiry, on every matching event) is not pushed again: when its
// queued entry pops, the live due is pushed in its place. So stale entries
// are skipped without reading the profile's state, and the heap holds
// about one entry per pending timer.
type timerIndex struct {
	h      timerHeap
	live   map[timerKey]int64
	queued map[timerKey]int64
}

func newTimerIndex() *timerIndex {
	return &timerIndex{live: map[timerKey]int64{}, queued: map[timerKey]int64{}}
}

// set records the due of a key (0: none).
func (x *timerIndex) set(profile, segment string, due int64) {
	k := timerKey{profile, segment}
	if due == 0 {
		delete(x.live, k)
		return
	}
	x.live[k] = due
	if q, ok := x.queued[k]; !ok || due < q {
		x.queued[k] = due // an earlier entry, if any, is now an orphan
		x.h.add(timer{due: due, profile: profile, segment: segment})
	}
}

// next returns a timer whose live due is at or before wm, removing it.
func (x *timerIndex) next(wm int64) (timer, bool) {
	for {
		tm, ok := x.h.popDue(wm)
		if !ok {
			return timer{}, false
		}
		k := timerKey{tm.profile, tm.segment}
		if q, ok := x.queued[k]; !ok || q != tm.due {
			continue // an orphan
		}
		delete(x.queued, k)
		live, ok := x.live[k]
		switch {
		case !ok:
			continue // cancelled
		case live > tm.due:
			x.queued[k] = live // moved later: queue it again
			x.h.add(timer{due: live, profile: tm.profile, segment: tm.segment})
			continue
		case live < tm.due:
			continue // cannot happen: an earlier due is queued when set
		}
		delete(x.live, k)
		return tm, true
	}
}
