package segmenter

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sillage/sillage/schemas"
)

// Store key prefixes of the "profiles" store.
const (
	profilePrefix = "p:"       // p:<profile id> → profileState (JSON)
	offsetKey     = "m:offset" // last input offset applied, decimal
)

// stateVersion is written in every profile state; a later version must
// still read this one.
const stateVersion = 1

// profileState is what the segmenter keeps per profile. Only profiles that
// are in a segment, have a window or timer pending, or have traits or
// computed traits the definitions read have one: other events leave no
// trace.
type profileState struct {
	V        int                      `json:"v"`
	Consent  schemas.Consent          `json:"consent"`
	Segments map[string]*segmentState `json:"segments,omitempty"`
	// Traits are the merged identify traits (kept only when a predicate
	// reads profile.traits).
	Traits map[string]any `json:"traits,omitempty"`
	// Computed are the computed traits' values.
	Computed map[string]any `json:"computed,omitempty"`
	// Seen are hashes of the last maxSeen event ids that changed this
	// state: an upstream duplicate of one of them (same event id, new
	// offset) is ignored, so it counts once in windows and computed traits.
	Seen []uint64 `json:"seen,omitempty"`
	// UserID is the last user id seen on the profile's events, and AnonIDs
	// the last maxAnonIDs distinct anonymous ids (oldest first), for the
	// admin profile view.
	UserID  string   `json:"user_id,omitempty"`
	AnonIDs []string `json:"anon_ids,omitempty"`
	// Recent are the profile's last Config.RecentEvents applied events (oldest
	// first): id, type, name and event time only, never properties. They
	// are kept while the profile has state for another reason (they alone
	// keep none) and deleted with it.
	Recent []recentEvent `json:"recent,omitempty"`
}

// recentEvent is one entry of profileState.Recent.
type recentEvent struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
	Time int64  `json:"time"`
}

// Bounds of profileState.Seen and AnonIDs.
const (
	maxSeen    = 8
	maxAnonIDs = 4
)

// note records an applied event in the profile's identities and recent
// events (at most maxRecent of them); it reports whether they changed.
func (s *profileState) note(id, typ, name, userID, anonID string, t int64, maxRecent int) bool {
	changed := false
	if userID != "" && userID != s.UserID {
		s.UserID, changed = userID, true
	}
	if anonID != "" && !slices.Contains(s.AnonIDs, anonID) {
		s.AnonIDs = append(s.AnonIDs, anonID)
		if len(s.AnonIDs) > maxAnonIDs {
			s.AnonIDs = slices.Clone(s.AnonIDs[len(s.AnonIDs)-maxAnonIDs:])
		}
		changed = true
	}
	if n := len(s.Recent); maxRecent <= 0 || n > 0 && s.Recent[n-1].ID == id && id != "" {
		if len(s.Recent) > max(maxRecent, 0) { // the bound was lowered
			s.Recent, changed = slices.Clone(s.Recent[len(s.Recent)-max(maxRecent, 0):]), true
		}
		return changed
	}
	e := recentEvent{ID: id, Type: typ, Name: name, Time: t}
	switch {
	case len(s.Recent) < maxRecent:
		s.Recent = append(s.Recent, e)
	case len(s.Recent) > maxRecent: // the bound was lowered
		s.Recent = append(slices.Clone(s.Recent[len(s.Recent)-maxRecent+1:]), e)
	default: // full: shift in place (the state is being changed to be saved)
		copy(s.Recent, s.Recent[len(s.Recent)-maxRecent+1:])
		s.Recent = s.Recent[:maxRecent]
		s.Recent[maxRecent-1] = e
	}
	return true
}

// segmentState is one profile's state for one segment, for every rule kind.
type segmentState struct {
	Member bool  `json:"member,omitempty"`
	Since  int64 `json:"since,omitempty"` // event time of entry
	// Due is the event time at which the rule's timer fires (0: none).
	Due int64 `json:"due,omitempty"`
	// Start and StartEvent: the event that opened an absence window.
	Start      int64  `json:"start,omitempty"`
	StartEvent string `json:"start_event,omitempty"`
	// Completed holds the event times of the latest events matching an
	// absence rule's `missing` predicate (at most maxCompleted, oldest
	// first), so that a `start` event arriving after its completion (out of
	// order: concurrent requests, retries) does not open a window that was
	// in fact completed.
	Completed []int64 `json:"completed,omitempty"`
	// Times (and Values, with a sum) are a window rule's events in the
	// window, oldest first: at most at_least of them for a count-only
	// window, maxWindowEvents with a sum.
	Times  []int64   `json:"times,omitempty"`
	Values []float64 `json:"values,omitempty"`
	// Starts[k] is, for a sequence rule, the event time of the first step
	// of the latest partial match that has reached step k (0: none).
	Starts []int64 `json:"starts,omitempty"`
	// Expire is when the state of a window or sequence that is not a
	// member and has no timer is all expired (its newest event or partial
	// match is out of the window): it is then dropped by the profile's
	// sweep timer, one per profile at the latest Expire, so that a profile
	// that stops sending events leaves no window state behind.
	Expire int64 `json:"expire,omitempty"`
	// Cause is, while a member, the entry's cause for the admin profile
	// view: the event id, or the transition's timer key
	// ("timer:<deadline>[:<opening event>]") when a timer made the profile
	// enter. (The entry's reason is not kept: the view derives it from the
	// rule, see entryReason.)
	Cause string `json:"cause,omitempty"`
}

// maxCompleted bounds segmentState.Completed.
const maxCompleted = 8

func (a segmentState) equal(b segmentState) bool {
	return a.Member == b.Member && a.Since == b.Since && a.Due == b.Due && a.Expire == b.Expire && a.Start == b.Start &&
		a.StartEvent == b.StartEvent && a.Cause == b.Cause && slices.Equal(a.Completed, b.Completed) &&
		slices.Equal(a.Times, b.Times) && slices.Equal(a.Values, b.Values) && slices.Equal(a.Starts, b.Starts)
}

func (a segmentState) isZero() bool { return a.equal(segmentState{}) }

// noteTransitions keeps the cause of the last entry among trs (cleared by
// an exit).
func (a *segmentState) noteTransitions(trs []transition) {
	for _, tr := range trs {
		if tr.kind != schemas.Entered {
			a.Cause = ""
			continue
		}
		a.Cause = tr.cause
		if a.Cause == "" {
			a.Cause = tr.key
		}
	}
	if !a.Member {
		a.Cause = ""
	}
}

func (s *profileState) empty() bool {
	if len(s.Traits) > 0 || len(s.Computed) > 0 {
		return false
	}
	for _, ss := range s.Segments {
		if !ss.isZero() {
			return false
		}
	}
	return true
}

func decodeState(b []byte) (*profileState, error) {
	st := new(profileState)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("decoding profile state: %w", err)
	}
	if st.V < 1 || st.V > stateVersion {
		return nil, fmt.Errorf("decoding profile state: unknown version %d", st.V)
	}
	return st, nil
}

func encodeState(st *profileState, sizeHint int) ([]byte, error) {
	st.V = stateVersion
	b, err := appendState(make([]byte, 0, sizeHint), st)
	if err != nil {
		return nil, fmt.Errorf("encoding profile state: %w", err)
	}
	return b, nil
}

// sweepGrace is how long after its Expire a window's or partial sequence's
// state is kept: an event arriving late (behind the watermark, e.g. while
// a lagging partition catches up after a restart) still finds the events
// it completes a window with.
const sweepGrace = int64(time.Hour / time.Millisecond)

// sweepDue is when the profile's sweep timer fires: sweepGrace after the
// latest Expire of its segments (0: none).
func (s *profileState) sweepDue() int64 {
	var due int64
	for _, ss := range s.Segments {
		due = max(due, ss.Expire)
	}
	if due == 0 {
		return 0
	}
	return due + sweepGrace
}

// sweep drops the segment states that expired sweepGrace or more before t.
func (s *profileState) sweep(t int64) bool {
	changed := false
	for name, ss := range s.Segments {
		if ss.Expire != 0 && ss.Expire+sweepGrace <= t && ss.Due == 0 && !ss.Member {
			delete(s.Segments, name)
			changed = true
		}
	}
	return changed
}
