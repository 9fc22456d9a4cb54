package segmenter

import (
	"sort"
	"strconv"
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
	// fires. It must clear or move st.Due.
	onDue(st *segmentState, out []transition) []transition
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
