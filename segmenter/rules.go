package segmenter

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sillage/sillage/schemas"
)

// rule decides one segment's membership for one profile. Rules keep their
// per-profile state in a segmentState and never touch Kafka or the store:
// the task persists the state and emits what they return. A new segment
// kind (issue 5: sliding windows, sequences, trait conditions) is a new
// rule plus, where needed, new segmentState fields.
type rule interface {
	kind() string
	// onEvent applies one event (in the profile's event-time order) and
	// appends the transitions it causes.
	onEvent(ec *evalCtx, st *segmentState, out []transition) []transition
	// onDue is called once event time has reached st.Due: the rule's timer
	// fires. It must clear st.Due or move it later.
	onDue(st *segmentState, out []transition) []transition
	// firesBefore says whether a timer due at `due` fires before an event
	// of the profile at event time t applies (absence: at t >= due, an
	// event exactly at the deadline is too late; window: at t > due, an
	// event at the instant the oldest expires is counted with the window
	// (t-within, t] it belongs to).
	firesBefore(due, t int64) bool
}

// transition is a rule's verdict before it becomes a MembershipTransition.
type transition struct {
	kind   schemas.Transition
	cause  string // the event that caused it; empty when a timer did
	key    string // what makes it unique within (segment, profile, kind): its id's input
	reason string
	at     int64 // event time, Unix ms
}

func eventCause(kind schemas.Transition, ev *Event, at int64, reason string) transition {
	return transition{kind: kind, cause: ev.ID, key: "event:" + ev.ID, reason: reason, at: at}
}

// eventRule: enter when an event matches enter; exit when a member's event
// matches exit. Without exit, membership lasts (until consent is withdrawn).
type eventRule struct {
	enter, exit int // predicate indexes; exit -1 when absent
}

func (r *eventRule) kind() string { return "event" }

func (r *eventRule) onEvent(ec *evalCtx, st *segmentState, out []transition) []transition {
	t := ec.eventTime
	switch {
	case !st.Member && ec.match(r.enter):
		st.Member, st.Since = true, t
		out = append(out, eventCause(schemas.Entered, &ec.ev, t, "event matched event.enter"))
	case st.Member && r.exit >= 0 && ec.match(r.exit):
		*st = segmentState{}
		out = append(out, eventCause(schemas.Exited, &ec.ev, t, "event matched event.exit"))
	}
	return out
}

func (r *eventRule) firesBefore(due, t int64) bool { return due <= t }

func (r *eventRule) onDue(st *segmentState, out []transition) []transition {
	st.Due = 0 // event rules set no timers
	return out
}

// absenceRule: an event matching start opens a window of `within`; if no
// event matching missing arrives before the window closes (completion at
// t < start+within), the profile enters when it closes. A member exits on
// the next missing event. While a window is open, further start events do
// not move it (the window runs from the first one); while a member, start
// events are ignored; after an exit, a new start opens a new window (re-entry).
type absenceRule struct {
	start, missing int
	within         int64 // ms
}

func (r *absenceRule) kind() string { return "absence" }

func (r *absenceRule) onEvent(ec *evalCtx, st *segmentState, out []transition) []transition {
	t := ec.eventTime
	if ec.match(r.missing) {
		completed := rememberCompletion(st.Completed, t)
		switch {
		case st.Due != 0 && t >= st.Start:
			*st = segmentState{} // completed in time: the window closes without entry
		case st.Member && t >= st.Start:
			*st = segmentState{}
			out = append(out, eventCause(schemas.Exited, &ec.ev, t, "event matched absence.missing"))
		}
		st.Completed = completed
		return out
	}
	if !st.Member && st.Due == 0 && ec.match(r.start) {
		// A completion already seen within [t, t+within) — it arrived
		// before this start although it happened after it — closes the
		// window at once.
		for _, c := range st.Completed {
			if c >= t && c < t+r.within {
				return out
			}
		}
		st.Start, st.StartEvent, st.Due = t, ec.ev.ID, t+r.within
	}
	return out
}

// rememberCompletion adds t to the sorted, bounded list of completion times.
func rememberCompletion(list []int64, t int64) []int64 {
	i := sort.Search(len(list), func(i int) bool { return list[i] >= t })
	if i < len(list) && list[i] == t {
		return list
	}
	// A new slice: the caller keeps the old one to detect changes.
	out := make([]int64, 0, len(list)+1)
	out = append(append(append(out, list[:i]...), t), list[i:]...)
	if len(out) > maxCompleted {
		out = out[len(out)-maxCompleted:]
	}
	return out
}

func (r *absenceRule) firesBefore(due, t int64) bool { return due <= t }

func (r *absenceRule) onDue(st *segmentState, out []transition) []transition {
	if st.Due == 0 {
		return out
	}
	due := st.Due
	st.Member, st.Since, st.Due = true, due, 0
	return append(out, transition{
		kind:   schemas.Entered,
		key:    "timer:" + strconv.FormatInt(due, 10) + ":" + st.StartEvent,
		reason: "no event matching absence.missing within " + time.Duration(r.within*int64(time.Millisecond)).String() + " of event " + st.StartEvent,
		at:     due,
	})
}

// maxWindowEvents bounds the events a window rule keeps per profile when it
// sums a value (a count-only window keeps at_least events: whether the
// window holds at least N events, and when it stops, depends only on the N
// newest). Beyond it the oldest events are dropped: the sum then counts
// only the newest maxWindowEvents events of the window.
const maxWindowEvents = 1000

// windowRule: a sliding window of `within` over the events matching match.
// The profile is a member while the window (now-within, now] holds at least
// atLeast events and, with a sum, the sum over them is at least sumAtLeast.
// Entries happen on events; exits when the oldest event needed expires
// (a timer at its time + within), or on an event when a sum drops.
type windowRule struct {
	match      int
	sum        int // value expression; -1: none
	within     int64
	atLeast    int
	sumAtLeast float64
	hasSum     bool
}

func (r *windowRule) kind() string { return "window" }

// keep is how many events the rule keeps per profile.
func (r *windowRule) keep() int {
	if r.sum < 0 {
		return r.atLeast
	}
	return maxWindowEvents
}

// holds says whether the kept events, all within the window, meet the
// thresholds.
func (r *windowRule) holds(st *segmentState) bool {
	if len(st.Times) == 0 || len(st.Times) < r.atLeast {
		return false
	}
	if !r.hasSum {
		return true
	}
	var sum float64
	for _, v := range st.Values {
		sum += v
	}
	return sum >= r.sumAtLeast
}

// evict drops the events that have left the window (now-within, now].
func (r *windowRule) evict(st *segmentState, now int64) {
	n := 0
	for n < len(st.Times) && st.Times[n] <= now-r.within {
		n++
	}
	if n > 0 {
		st.Times = slices.Clone(st.Times[n:])
		if r.sum >= 0 {
			st.Values = slices.Clone(st.Values[n:])
		}
	}
}

// next sets the timer. With a negative value in the window the sum can
// rise or fall as events expire: the timer is the oldest event's expiry,
// to decide again at each. Otherwise expiries only lower the count and sum:
// a member's timer is the expiry after which the thresholds fail (for a
// count-only window, the oldest of the at_least events kept), and a
// non-member has none, its state expiring with its newest event (the
// profile's sweep drops it then).
func (r *windowRule) next(st *segmentState) {
	st.Due, st.Expire = 0, 0
	n := len(st.Times)
	if n == 0 {
		return
	}
	var sum float64
	negative := false
	for _, v := range st.Values {
		sum += v
		negative = negative || v < 0
	}
	switch {
	case negative:
		st.Due = st.Times[0] + r.within
	case !st.Member:
		st.Expire = st.Times[n-1] + r.within
	default:
		for i := range n {
			count := n - i - 1
			if r.sum >= 0 {
				sum -= st.Values[i]
			}
			if count == 0 || count < r.atLeast || (r.hasSum && sum < r.sumAtLeast) {
				st.Due = st.Times[i] + r.within
				return
			}
		}
	}
}

func (r *windowRule) onEvent(ec *evalCtx, st *segmentState, out []transition) []transition {
	if !ec.match(r.match) {
		return out
	}
	var v float64
	if r.sum >= 0 {
		var ok bool
		if v, ok = ec.number(r.sum); !ok {
			return out // counted as an expression error; the event is not counted
		}
	}
	t := ec.eventTime
	now := t
	if n := len(st.Times); n > 0 && st.Times[n-1] > now {
		now = st.Times[n-1] // a late event: the window is where the profile is
	}
	if t <= now-r.within {
		return out // late beyond the window
	}
	i, _ := slices.BinarySearch(st.Times, t)
	for i < len(st.Times) && st.Times[i] == t {
		i++ // after events of the same instant
	}
	st.Times = slices.Insert(slices.Clone(st.Times), i, t)
	if r.sum >= 0 {
		st.Values = slices.Insert(slices.Clone(st.Values), i, v)
	}
	r.evict(st, now)
	if k := r.keep(); len(st.Times) > k {
		st.Times = st.Times[len(st.Times)-k:]
		if r.sum >= 0 {
			st.Values = st.Values[len(st.Values)-k:]
		}
	}
	switch is := r.holds(st); {
	case is && !st.Member:
		st.Member, st.Since = true, now
		out = append(out, eventCause(schemas.Entered, &ec.ev, now, r.describe("entered")))
	case !is && st.Member:
		st.Member, st.Since = false, 0
		out = append(out, eventCause(schemas.Exited, &ec.ev, now, r.describe("exited")))
	}
	r.next(st)
	return out
}

func (r *windowRule) describe(what string) string {
	w := time.Duration(r.within * int64(time.Millisecond)).String()
	var cond string
	switch {
	case r.atLeast > 0 && r.hasSum:
		cond = fmt.Sprintf("at least %d events matching window.match and a window.sum of at least %g within %s", r.atLeast, r.sumAtLeast, w)
	case r.hasSum:
		cond = fmt.Sprintf("a window.sum of at least %g within %s", r.sumAtLeast, w)
	default:
		cond = fmt.Sprintf("at least %d events matching window.match within %s", r.atLeast, w)
	}
	if what == "entered" {
		return "the window holds " + cond
	}
	return "the window no longer holds " + cond
}

func (r *windowRule) firesBefore(due, t int64) bool { return due < t }

func (r *windowRule) onDue(st *segmentState, out []transition) []transition {
	due := st.Due
	if due == 0 {
		return out
	}
	r.evict(st, due)
	is := r.holds(st)
	switch {
	case is && !st.Member:
		st.Member, st.Since = true, due
		out = append(out, transition{kind: schemas.Entered, key: "timer:" + strconv.FormatInt(due, 10), reason: r.describe("entered"), at: due})
	case !is && st.Member:
		st.Member, st.Since = false, 0
		out = append(out, transition{kind: schemas.Exited, key: "timer:" + strconv.FormatInt(due, 10), reason: r.describe("exited"), at: due})
	}
	r.next(st)
	if st.Due != 0 && st.Due <= due {
		st.Due = due + 1 // cannot happen once evicted; never loop
	}
	return out
}

// maxSequenceSteps bounds a sequence's steps (and so its per-profile state).
const maxSequenceSteps = 16

// sequenceRule: the profile enters when events matching steps[0], steps[1]…
// occur in that order (in the order the profile's events are applied), the
// last less than within after the first. Per profile it keeps, for each
// step reached, the start of the latest partial match (the latest start
// expires last, so it dominates earlier ones). A member exits on an event
// matching exit, or memberFor after entering (a timer); while a member,
// steps are ignored.
type sequenceRule struct {
	steps     []int
	within    int64
	exit      int
	memberFor int64
}

func (r *sequenceRule) kind() string { return "sequence" }

func (r *sequenceRule) firesBefore(due, t int64) bool { return due <= t }

func (r *sequenceRule) onEvent(ec *evalCtx, st *segmentState, out []transition) []transition {
	t := ec.eventTime
	if st.Member {
		if r.exit >= 0 && ec.match(r.exit) {
			*st = segmentState{}
			out = append(out, eventCause(schemas.Exited, &ec.ev, t, "event matched sequence.exit"))
		}
		return out
	}
	n := len(r.steps)
	starts := st.Starts
	if starts == nil {
		starts = make([]int64, n-1)
	} else {
		starts = slices.Clone(starts)
	}
	valid := func(k int) bool { return starts[k] != 0 && starts[k] > t-r.within && starts[k] <= t }
	// From the last step down, so that one event advances a partial match
	// by one step at most.
	for k := n - 1; k >= 1; k-- {
		if !valid(k-1) || !ec.match(r.steps[k]) {
			continue
		}
		if k == n-1 {
			st.Starts, st.Expire, st.Member, st.Since = nil, 0, true, t
			if r.memberFor > 0 {
				st.Due = t + r.memberFor
			} else {
				st.Due = 0
			}
			w := time.Duration(r.within * int64(time.Millisecond)).String()
			return append(out, eventCause(schemas.Entered, &ec.ev, t, fmt.Sprintf("the %d steps of the sequence within %s", n, w)))
		}
		starts[k] = max(starts[k], starts[k-1])
	}
	if ec.match(r.steps[0]) {
		starts[0] = t
	}
	last := int64(0)
	for k := range starts {
		if starts[k] != 0 && starts[k] <= t-r.within {
			starts[k] = 0 // expired
		}
		last = max(last, starts[k])
	}
	if last == 0 {
		st.Starts, st.Expire = nil, 0
	} else {
		st.Starts, st.Expire = starts, last+r.within // the sweep drops it when all expire
	}
	return out
}

func (r *sequenceRule) onDue(st *segmentState, out []transition) []transition {
	due := st.Due
	if due == 0 {
		return out
	}
	if st.Member {
		*st = segmentState{}
		return append(out, transition{kind: schemas.Exited, key: "timer:" + strconv.FormatInt(due, 10),
			reason: "sequence.member_for " + time.Duration(r.memberFor*int64(time.Millisecond)).String() + " elapsed", at: due})
	}
	st.Due = 0 // not set by this version for partial matches
	return out
}

// membershipRule (in_segments): a member while in all of all, in one of
// any (when given) and in none of none. It is decided after the segments
// it names, on events and when their timers fire.
type membershipRule struct {
	all, any, none []string
}

func (r *membershipRule) kind() string { return "in_segments" }

func (r *membershipRule) decide(in map[string]bool) bool {
	for _, s := range r.all {
		if !in[s] {
			return false
		}
	}
	for _, s := range r.none {
		if in[s] {
			return false
		}
	}
	if len(r.any) == 0 {
		return true
	}
	for _, s := range r.any {
		if in[s] {
			return true
		}
	}
	return false
}

func (r *membershipRule) reason(entered bool) string {
	var parts []string
	if len(r.all) > 0 {
		parts = append(parts, "all of "+strings.Join(r.all, ", "))
	}
	if len(r.any) > 0 {
		parts = append(parts, "one of "+strings.Join(r.any, ", "))
	}
	if len(r.none) > 0 {
		parts = append(parts, "none of "+strings.Join(r.none, ", "))
	}
	if entered {
		return "in_segments: in " + strings.Join(parts, "; ")
	}
	return "in_segments: no longer in " + strings.Join(parts, "; ")
}

// follow decides the rule from the memberships and returns the transition
// caused by cause (the transition of a segment it names), if any.
func (r *membershipRule) follow(st *segmentState, in map[string]bool, causeSeg string, cause transition) (transition, bool) {
	is := r.decide(in)
	if is == st.Member {
		return transition{}, false
	}
	kind := schemas.Exited
	if is {
		kind = schemas.Entered
		st.Member, st.Since = true, cause.at
	} else {
		*st = segmentState{}
	}
	return transition{kind: kind, cause: cause.cause, key: "follows:" + causeSeg + ":" + string(cause.kind) + ":" + cause.key,
		reason: r.reason(is), at: cause.at}, true
}

func (r *membershipRule) onEvent(ec *evalCtx, st *segmentState, out []transition) []transition {
	is := r.decide(ec.prof.Segments)
	switch {
	case is && !st.Member:
		st.Member, st.Since = true, ec.eventTime
		out = append(out, eventCause(schemas.Entered, &ec.ev, ec.eventTime, r.reason(true)))
	case !is && st.Member:
		*st = segmentState{}
		out = append(out, eventCause(schemas.Exited, &ec.ev, ec.eventTime, r.reason(false)))
	}
	return out
}

func (r *membershipRule) firesBefore(due, t int64) bool { return due <= t }

func (r *membershipRule) onDue(st *segmentState, out []transition) []transition {
	st.Due = 0
	return out
}
