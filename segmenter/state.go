package segmenter

import (
	"encoding/json"
	"fmt"
	"slices"

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
// are in a segment or have a timer pending have one: other events leave no
// trace. Issue 5 extends it (traits, computed traits, identities).
type profileState struct {
	V        int                      `json:"v"`
	Consent  schemas.Consent          `json:"consent"`
	Segments map[string]*segmentState `json:"segments,omitempty"`
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
}

// maxCompleted bounds segmentState.Completed.
const maxCompleted = 8

func (a segmentState) equal(b segmentState) bool {
	return a.Member == b.Member && a.Since == b.Since && a.Due == b.Due && a.Start == b.Start &&
		a.StartEvent == b.StartEvent && slices.Equal(a.Completed, b.Completed)
}

func (a segmentState) isZero() bool { return a.equal(segmentState{}) }

func (s *profileState) empty() bool {
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

func encodeState(st *profileState) []byte {
	st.V = stateVersion
	b, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("encoding profile state: %v", err)) // plain structs: cannot fail
	}
	return b
}
