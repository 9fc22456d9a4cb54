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

func initTimers(h *timerHeap) { heap.Init(h) }
