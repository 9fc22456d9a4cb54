package session

import (
	"encoding/hex"
	"math"
	"slices"
)

// Assign places the event eventID of visitor, at event time at (Unix ms)
// and with campaign key campaign ("" for none), in a session, following
// the rules of the package doc. A non-nil error means the stored state was
// unreadable; it was replaced by a new session and the assignment is still
// valid.
func (t *Tracker) Assign(visitor, eventID string, at int64, campaign string) (Assignment, error) {
	v, err := t.load(visitor)
	if v.rawCount > 0 && t.needsHistory(v, at, campaign) {
		if ferr := v.full(); ferr != nil {
			err = t.corrupt(v, ferr)
		}
	}
	ss := v.sessions
	n := len(ss)
	if n == 0 {
		return t.insert(v, visitor, eventID, at, campaign, 0), err
	}
	if at < subSat(ss[n-1].last, t.lateness) || (v.hasHorizon && at <= v.horizon) {
		id := sessionID(visitor, eventID)
		return Assignment{ID: hex.EncodeToString(id[:]), Late: true}, nil
	}
	// p is the last session starting at or before at (-1 if none); with
	// in-order input it is the latest session.
	p := n - 1
	for p >= 0 && ss[p].start > at {
		p--
	}
	if p >= 0 && at < ss[p].last {
		// Inside a session (out of order): it joins, whatever its campaign.
		return Assignment{ID: ss[p].hex(), Index: ss[p].index}, nil
	}
	joinPrev := p >= 0 && at <= addSat(ss[p].last, t.gap) && joins(campaign, &ss[p])
	joinNext := p+1 < n && at >= subSat(ss[p+1].start, t.gap) && joins(campaign, &ss[p+1])
	switch {
	case joinPrev && joinNext && joins(ss[p+1].campaign, &ss[p]):
		return t.merge(v, visitor, p), nil
	case joinPrev:
		if at > ss[p].last {
			ss[p].last = at
			p -= t.changed(v)
		}
		s := &v.sessions[p]
		return Assignment{ID: s.hex(), Index: s.index}, nil
	case joinNext:
		ss[p+1].start = at
		t.markDirty(v)
		return Assignment{ID: ss[p+1].hex(), Index: ss[p+1].index}, nil
	default:
		return t.insert(v, visitor, eventID, at, campaign, p+1), nil
	}
}

// needsHistory reports whether placing an event at with campaign needs the
// sessions before the newest: it lands before the newest session's start,
// starts a new session (which may push the oldest out), or moves the
// lateness floor past the oldest session's last event. Only an event that
// is Late, inside the newest session or extends it keeps them undecoded.
func (t *Tracker) needsHistory(v *visitor, at int64, campaign string) bool {
	newest := &v.sessions[len(v.sessions)-1]
	switch {
	case at < subSat(newest.last, t.lateness) || (v.hasHorizon && at <= v.horizon):
		return false // Late
	case at < newest.start:
		return true
	case at < newest.last:
		return false // inside
	case at > addSat(newest.last, t.gap) || !joins(campaign, newest):
		return true // a new session
	}
	oldest, ok := v.oldestLast()
	return !ok || oldest < subSat(subSat(at, t.lateness), t.gap)
}

// joins reports whether an event (or a session's first event) with the
// given campaign may join session s: an event without a campaign joins any
// session; one with a campaign only a session of that campaign.
func joins(campaign string, s *session) bool {
	return campaign == "" || campaign == s.campaign
}

// insert starts a session at position i of the visitor's history. A
// visitor whose newest session has index 2^31-1 gets no more sessions:
// the event is treated as Late.
func (t *Tracker) insert(v *visitor, visitor, eventID string, at int64, campaign string, i int) Assignment {
	if n := len(v.sessions); n > 0 && v.sessions[n-1].index == math.MaxInt32 {
		id := sessionID(visitor, eventID)
		return Assignment{ID: hex.EncodeToString(id[:]), Late: true}
	}
	s := session{id: sessionID(visitor, eventID), index: 1, start: at, last: at, campaign: campaign}
	inserted := i < len(v.sessions)
	switch {
	case inserted:
		s.index = v.sessions[i].index
		for j := i; j < len(v.sessions); j++ {
			v.sessions[j].index++
		}
	case i > 0:
		s.index = v.sessions[i-1].index + 1
	}
	v.sessions = slices.Insert(v.sessions, i, s)
	if i -= t.changed(v); i < 0 {
		// Dropped at once for MaxSessions (it was the oldest): the id is
		// still the session's.
		return Assignment{ID: hex.EncodeToString(s.id[:]), Index: s.index, New: true, Inserted: inserted}
	}
	return Assignment{ID: v.sessions[i].hex(), Index: s.index, New: true, Inserted: inserted}
}

// merge joins sessions p and p+1 of the visitor: p absorbs p+1 (its id
// survives) and later sessions' indexes fall by one.
func (t *Tracker) merge(v *visitor, visitor string, p int) Assignment {
	into, from := &v.sessions[p], &v.sessions[p+1]
	c := Correction{Visitor: visitor, From: from.hex(), Into: into.hex(), FromIndex: from.index, IntoIndex: into.index}
	into.last = from.last
	for j := p + 2; j < len(v.sessions); j++ {
		v.sessions[j].index--
	}
	v.sessions = slices.Delete(v.sessions, p+1, p+2)
	p -= t.changed(v)
	s := &v.sessions[p]
	return Assignment{ID: s.hex(), Index: s.index, Corrections: []Correction{c}}
}

// changed marks the visitor dirty and drops sessions no event within the
// lateness bound can reach any more: those whose last event is more than
// lateness+gap before the latest event time, then the oldest beyond
// MaxSessions. The horizon remembers how far dropped sessions reached. It
// returns how many sessions were dropped from the front.
func (t *Tracker) changed(v *visitor) int {
	t.markDirty(v)
	return t.prune(v)
}

// prune drops the sessions changed describes and returns how many.
func (t *Tracker) prune(v *visitor) int {
	ss := v.sessions
	floor := subSat(subSat(ss[len(ss)-1].last, t.lateness), t.gap)
	drop := 0
	for drop < len(ss)-1 && (ss[drop].last < floor || len(ss)-drop > t.maxSessions) {
		drop++
	}
	if drop == 0 {
		return 0
	}
	if h := addSat(ss[drop-1].last, t.gap); !v.hasHorizon || h > v.horizon {
		v.horizon, v.hasHorizon = h, true
	}
	v.sessions = slices.Delete(ss, 0, drop)
	return drop
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func subSat(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
