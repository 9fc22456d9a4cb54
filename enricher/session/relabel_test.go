package session

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// placed is where downstream believes an event is: its session id and index.
type placed struct {
	id    string
	index int32
}

// relabeler plays a downstream consumer: it records each event's session
// and applies the corrections and insertions the tracker reports.
type relabeler struct {
	byEvent   map[string]*placed
	byVisitor map[string][]*placed
}

func newRelabeler() *relabeler {
	return &relabeler{byEvent: map[string]*placed{}, byVisitor: map[string][]*placed{}}
}

func (r *relabeler) apply(visitor, eventID string, a Assignment) {
	for _, c := range a.Corrections {
		for _, p := range r.byVisitor[c.Visitor] {
			switch {
			case p.id == c.From:
				p.id, p.index = c.Into, c.IntoIndex
			case p.index > c.FromIndex:
				p.index--
			}
		}
	}
	if a.Inserted {
		for _, p := range r.byVisitor[visitor] {
			if p.index >= a.Index {
				p.index++
			}
		}
	}
	p := &placed{id: a.ID, index: a.Index}
	r.byEvent[eventID] = p
	r.byVisitor[visitor] = append(r.byVisitor[visitor], p)
}

// sessions counts the distinct session ids.
func (r *relabeler) sessions() int {
	ids := map[string]bool{}
	for _, p := range r.byEvent {
		ids[p.id] = true
	}
	return len(ids)
}

// requireSamePartition checks that got groups the events exactly as want
// does (session ids may differ, one for one) with the same indexes.
func requireSamePartition(t testing.TB, want, got *relabeler) {
	t.Helper()
	require.Equal(t, len(want.byEvent), len(got.byEvent), "events")
	forward, backward := map[string]string{}, map[string]string{}
	for ev, w := range want.byEvent {
		g, ok := got.byEvent[ev]
		require.True(t, ok, "event %s missing", ev)
		require.Equal(t, w.index, g.index, "index of event %s", ev)
		if id, ok := forward[w.id]; ok {
			require.Equal(t, id, g.id, "event %s split from its session", ev)
		} else {
			forward[w.id] = g.id
		}
		if id, ok := backward[g.id]; ok {
			require.Equal(t, id, w.id, "event %s joined another session", ev)
		} else {
			backward[g.id] = w.id
		}
	}
}
