package segmenter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

// The admin profile view (GET /v1/profiles/{id}) and its explain answer
// (GET /v1/profiles/{id}/explain?segment=NAME) read the segmenter's state
// of one profile in the task that owns it: the task of the enriched
// partition the profile id hashes to (murmur2, as the producers key it).
// A request takes the task's mutex, which the task holds while it
// processes a record or ticks, so it reads between two records, and
// answers from the state as the task sees it: changes of the batch in
// progress included, before the runner commits them.

func (s *Segmenter) register(t *task) {
	s.mu.Lock()
	s.tasks[t.tp.Partition] = t
	s.mu.Unlock()
}

func (s *Segmenter) unregister(t *task) {
	s.mu.Lock()
	if s.tasks[t.tp.Partition] == t {
		delete(s.tasks, t.tp.Partition)
	}
	s.mu.Unlock()
}

// PartitionOf is the enriched partition (of n) a profile's events are
// keyed to.
func PartitionOf(profile string, n int32) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(profile)}, int(n)))
}

// lookupResult says where a profile was looked for.
type lookupResult struct {
	partition int32 // -1: unknown (partition count not given)
	owned     bool
	found     bool
	owns      []int32 // the partitions this instance owns
}

// withProfile calls fn with the profile's state while holding its task's
// lock. fn must not keep or change the state.
func (s *Segmenter) withProfile(profile string, fn func(t *task, st *profileState) error) (lookupResult, error) {
	s.mu.Lock()
	tasks := make([]*task, 0, len(s.tasks))
	res := lookupResult{partition: -1}
	for p, t := range s.tasks {
		res.owns = append(res.owns, p)
		if s.partitions <= 0 || p == PartitionOf(profile, s.partitions) {
			tasks = append(tasks, t)
		}
	}
	s.mu.Unlock()
	slices.Sort(res.owns)
	if s.partitions > 0 {
		res.partition = PartitionOf(profile, s.partitions)
		res.owned = len(tasks) > 0
	} else {
		res.owned = true // unknown: every owned partition is searched
	}
	for _, t := range tasks {
		found, err := func() (bool, error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			st, ok, err := t.load(profilePrefix + profile)
			if err != nil || !ok {
				return false, err
			}
			return true, fn(t, st)
		}()
		if err != nil {
			return res, fmt.Errorf("profile state of %s (partition %d): %w", profile, t.tp.Partition, err)
		}
		if found {
			res.found, res.partition = true, t.tp.Partition
			return res, nil
		}
	}
	return res, nil
}

func msTime(ms int64) *time.Time {
	if ms == 0 || ms == noTime {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

// ProfileView is the answer of GET /v1/profiles/{id}.
type ProfileView struct {
	ProfileID    string            `json:"profile_id"`
	Partition    int32             `json:"partition"`
	Identities   IdentitiesView    `json:"identities"`
	Consent      schemas.Consent   `json:"consent"`
	Traits       map[string]any    `json:"traits"`
	Computed     map[string]any    `json:"computed_traits"`
	Segments     []MembershipView  `json:"segments"`
	Pending      []PendingView     `json:"pending"`
	RecentEvents []RecentEventView `json:"recent_events"`
	Notes        []string          `json:"notes"`
}

// IdentitiesView is what the segmenter knows of a profile's identities.
type IdentitiesView struct {
	ProfileID    string   `json:"profile_id"`
	UserID       string   `json:"user_id,omitempty"`
	AnonymousIDs []string `json:"anonymous_ids"`
}

// MembershipView is one current membership.
type MembershipView struct {
	Segment string     `json:"segment"`
	Kind    string     `json:"kind"`
	Since   *time.Time `json:"since"`
	Cause   string     `json:"cause,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// PendingView is an open window or timer.
type PendingView struct {
	Segment string     `json:"segment"`
	Kind    string     `json:"kind"`
	What    string     `json:"what"`
	Due     *time.Time `json:"due,omitempty"`
}

// RecentEventView is one of the profile's last events.
type RecentEventView struct {
	ID   string    `json:"id,omitempty"`
	Type string    `json:"type"`
	Name string    `json:"name,omitempty"`
	Time time.Time `json:"time"`
}

func (s *Segmenter) profileNotes() []string {
	return []string{
		"identities: the profile id, the last user id and the last 4 distinct anonymous ids the segmenter saw on this profile's events; identity merges are decided upstream (enricher) and not listed",
		fmt.Sprintf("recent_events: the last %d events applied while the profile had segmenter state (id, type, name, event time; no properties; -segmenter.recent-events)", s.cfg.RecentEvents),
		"traits are kept only when a predicate reads profile.traits; a profile without segment state, pending windows or kept traits has no view; everything is deleted when personalisation consent is withdrawn",
		"read from the owning task between two records: changes of the batch in progress are shown before the runner commits them",
	}
}

func (s *Segmenter) profileView(t *task, profile string, st *profileState) ProfileView {
	v := ProfileView{ProfileID: profile, Partition: t.tp.Partition, Consent: st.Consent,
		Identities: IdentitiesView{ProfileID: profile, UserID: st.UserID, AnonymousIDs: slices.Clone(st.AnonIDs)},
		Traits:     map[string]any{}, Computed: map[string]any{},
		Segments: []MembershipView{}, Pending: []PendingView{}, RecentEvents: []RecentEventView{}, Notes: s.profileNotes()}
	if v.Identities.AnonymousIDs == nil {
		v.Identities.AnonymousIDs = []string{}
	}
	for k, x := range st.Traits {
		v.Traits[k] = x
	}
	for k, x := range st.Computed {
		v.Computed[k] = x
	}
	for _, seg := range s.defs.Segments {
		ss := st.Segments[seg.Name]
		if ss == nil {
			continue
		}
		if ss.Member {
			v.Segments = append(v.Segments, MembershipView{Segment: seg.Name, Kind: seg.Kind(), Since: msTime(ss.Since), Cause: ss.Cause, Reason: entryReason(seg, ss)})
		}
		if what := pendingWhat(seg, ss); what != "" {
			v.Pending = append(v.Pending, PendingView{Segment: seg.Name, Kind: seg.Kind(), What: what, Due: msTime(ss.Due)})
		}
	}
	if d := st.sweepDue(); d != 0 {
		v.Pending = append(v.Pending, PendingView{Kind: "sweep", What: "expired window or sequence state is dropped", Due: msTime(d)})
	}
	for _, e := range st.Recent {
		v.RecentEvents = append(v.RecentEvents, RecentEventView{ID: e.ID, Type: e.Type, Name: e.Name, Time: time.UnixMilli(e.Time).UTC()})
	}
	return v
}

// pendingWhat describes what a segment state has pending ("": nothing).
func pendingWhat(seg *Segment, ss *segmentState) string {
	switch r := seg.rule.(type) {
	case *absenceRule:
		if ss.Due != 0 {
			return fmt.Sprintf("absence window opened by event %s: enters at the deadline unless an event matching absence.missing arrives", ss.StartEvent)
		}
	case *windowRule:
		switch {
		case ss.Due != 0 && ss.Member:
			return "window exit: the window slides below the threshold at due unless new matching events arrive"
		case len(ss.Times) > 0:
			return fmt.Sprintf("%d matching event(s) kept in the sliding window of %s", len(ss.Times), durMs(r.within))
		}
	case *sequenceRule:
		if ss.Due != 0 {
			return "sequence.member_for: exits at due"
		}
		if k := seqReached(ss); k > 0 {
			return fmt.Sprintf("partial sequence: %d of %d steps matched", k, len(r.steps))
		}
	}
	if ss.Due != 0 {
		return "timer"
	}
	return ""
}

// entryReason is the reason of a member's entry, as its entered
// transition gave it (TestProfileViewReasonsMatchTransitions).
func entryReason(seg *Segment, ss *segmentState) string {
	switch r := seg.rule.(type) {
	case *eventRule:
		return "event matched event.enter"
	case *absenceRule:
		return "no event matching absence.missing within " + durMs(r.within) + " of event " + ss.StartEvent
	case *windowRule:
		return r.describe("entered")
	case *sequenceRule:
		return fmt.Sprintf("the %d steps of the sequence within %s", len(r.steps), durMs(r.within))
	case *membershipRule:
		return r.reason(true)
	}
	return ""
}

func durMs(ms int64) string { return time.Duration(ms * int64(time.Millisecond)).String() }

// seqReached is how many steps the latest partial match has reached.
func seqReached(ss *segmentState) int {
	for k := len(ss.Starts) - 1; k >= 0; k-- {
		if ss.Starts[k] != 0 {
			return k + 1
		}
	}
	return 0
}

// Explanation is the answer of GET /v1/profiles/{id}/explain.
type Explanation struct {
	ProfileID string         `json:"profile_id"`
	Segment   string         `json:"segment"`
	Kind      string         `json:"kind"`
	Member    bool           `json:"member"`
	Since     *time.Time     `json:"since,omitempty"`
	Cause     string         `json:"cause,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Why       string         `json:"why"`
	Details   map[string]any `json:"details"`
}

func (s *Segmenter) explain(t *task, profile string, seg *Segment, st *profileState) Explanation {
	ss := st.Segments[seg.Name]
	if ss == nil {
		ss = &segmentState{}
	}
	x := Explanation{ProfileID: profile, Segment: seg.Name, Kind: seg.Kind(), Member: ss.Member,
		Since: msTime(ss.Since), Cause: ss.Cause, Details: map[string]any{}}
	if ss.Member {
		x.Reason = entryReason(seg, ss)
	}
	src := func(i int) string {
		if i < 0 {
			return ""
		}
		return s.defs.preds[i].src
	}
	switch r := seg.rule.(type) {
	case *eventRule:
		x.Details["enter"] = src(r.enter)
		if r.exit >= 0 {
			x.Details["exit"] = src(r.exit)
		}
		if ss.Member {
			x.Why = fmt.Sprintf("entered on event %s, which matched event.enter; no event matching event.exit since", ss.Cause)
			x.Details["entering_event"] = ss.Cause
		} else {
			x.Why = "no event matching event.enter has been applied since the profile last left the segment (or since its state began); " +
				"past events are not kept, so the predicate cannot be re-evaluated on them"
		}
	case *absenceRule:
		x.Details["start"], x.Details["missing"], x.Details["within"] = src(r.start), src(r.missing), durMs(r.within)
		x.Details["missing_seen_at"] = timesOf(ss.Completed)
		switch {
		case ss.Member:
			x.Why = fmt.Sprintf("no event matching absence.missing arrived within %s of the start event; entered at the deadline", durMs(r.within))
		case ss.Due != 0:
			x.Details["start_seen_at"], x.Details["start_event"], x.Details["deadline"] = msTime(ss.Start), ss.StartEvent, msTime(ss.Due)
			x.Details["missing_seen"] = false
			x.Why = fmt.Sprintf("window open: start event %s seen at %s; enters at %s unless an event matching absence.missing arrives first",
				ss.StartEvent, fmtMs(ss.Start), fmtMs(ss.Due))
		case len(ss.Completed) > 0:
			x.Why = "no open window: the last window was completed by an event matching absence.missing (see missing_seen_at), or none was opened since"
		default:
			x.Why = "no open window: no event matching absence.start has been applied (or the window closed and the profile left)"
		}
	case *windowRule:
		now := t.clock.maxEvent
		var times []int64
		var sum float64
		for i, tm := range ss.Times {
			if now == noTime || tm > now-r.within {
				times = append(times, tm)
				if i < len(ss.Values) {
					sum += ss.Values[i]
				}
			}
		}
		x.Details["match"], x.Details["within"], x.Details["at_least"] = src(r.match), durMs(r.within), r.atLeast
		x.Details["count_in_window"] = len(times)
		x.Details["window_end"] = msTime(now)
		x.Details["events_at"] = timesOf(times)
		if r.hasSum {
			x.Details["sum"], x.Details["sum_at_least"] = sum, r.sumAtLeast
		}
		if len(times) > 0 {
			x.Details["oldest_slides_out_at"] = msTime(times[0] + r.within)
		}
		if ss.Due != 0 {
			x.Details["exit_due"] = msTime(ss.Due)
		}
		if r.sum < 0 {
			x.Details["note"] = fmt.Sprintf("a count-only window keeps its newest %d event times: count_in_window is at most that", r.atLeast)
		}
		if ss.Member {
			x.Why = fmt.Sprintf("%d matching event(s) in the window of %s ending at the partition's newest event time (threshold %d)", len(times), durMs(r.within), r.atLeast)
		} else {
			x.Why = fmt.Sprintf("only %d matching event(s) in the window of %s ending at the partition's newest event time; %d needed", len(times), durMs(r.within), r.atLeast)
		}
	case *sequenceRule:
		steps := make([]string, len(r.steps))
		for i, p := range r.steps {
			steps[i] = src(p)
		}
		x.Details["steps"], x.Details["within"] = steps, durMs(r.within)
		k := seqReached(ss)
		if ss.Member {
			k = len(r.steps)
		}
		x.Details["steps_matched"] = k
		if ss.Due != 0 {
			x.Details["member_for_due"] = msTime(ss.Due)
		}
		switch {
		case ss.Member:
			x.Why = fmt.Sprintf("all %d steps matched in order within %s; the last was event %s", len(r.steps), durMs(r.within), ss.Cause)
		case k > 0:
			start := ss.Starts[k-1]
			x.Details["first_step_at"], x.Details["complete_before"] = msTime(start), msTime(start+r.within)
			x.Why = fmt.Sprintf("%d of %d steps matched so far; the rest must match before %s", k, len(r.steps), fmtMs(start+r.within))
		default:
			x.Why = "no partial match in progress: no event matching the first step within the last " + durMs(r.within) + " (or it expired)"
		}
	case *membershipRule:
		in := func(names []string) map[string]bool {
			m := make(map[string]bool, len(names))
			for _, n := range names {
				m[n] = st.Segments[n] != nil && st.Segments[n].Member
			}
			return m
		}
		deps := map[string]any{}
		if len(r.all) > 0 {
			deps["all"] = in(r.all)
		}
		if len(r.any) > 0 {
			deps["any"] = in(r.any)
		}
		if len(r.none) > 0 {
			deps["none"] = in(r.none)
		}
		x.Details["dependencies"] = deps
		if ss.Member {
			x.Why = "the memberships meet the rule (" + r.reason(true) + ")"
		} else {
			x.Why = "the memberships do not meet the rule (" + r.reason(true) + "): see dependencies"
		}
	}
	return x
}

func fmtMs(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func timesOf(ms []int64) []time.Time {
	out := make([]time.Time, 0, len(ms))
	for _, m := range ms {
		out = append(out, time.UnixMilli(m).UTC())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// ProfileHandler serves GET /v1/profiles/{id} and (with explain)
// GET /v1/profiles/{id}/explain?segment=NAME. Mount it behind the admin
// token (admin.Server.Protect).
func (s *Segmenter) ProfileHandler(explain bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "profile id: empty"})
			return
		}
		var seg *Segment
		if explain {
			name := r.URL.Query().Get("segment")
			if name == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": "segment: a query parameter naming the segment is required (?segment=NAME)"})
				return
			}
			var ok bool
			if seg, ok = s.defs.Segment(name); !ok {
				writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("segment %q is not defined", name), "segment": name})
				return
			}
		}
		var body []byte
		res, err := s.withProfile(id, func(t *task, st *profileState) error {
			var v any
			if explain {
				v = s.explain(t, id, seg, st)
			} else {
				v = s.profileView(t, id, st)
			}
			var err error
			body, err = json.Marshal(v) // under the task's lock: the view shares the state's values
			return err
		})
		switch {
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		case res.found:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(append(body, '\n'))
		case !res.owned:
			writeJSON(w, http.StatusMisdirectedRequest, map[string]any{
				"error":            fmt.Sprintf("profile %q belongs to partition %d, which this instance does not own: ask the instance that owns it", id, res.partition),
				"profile_id":       id,
				"partition":        res.partition,
				"owned":            false,
				"owned_partitions": res.owns,
			})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{
				"error":      fmt.Sprintf("profile %q is unknown to this instance: it has no segmenter state (in no segment, nothing pending, no traits kept)", id),
				"profile_id": id,
				"partition":  res.partition,
				"owned":      true,
			})
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
