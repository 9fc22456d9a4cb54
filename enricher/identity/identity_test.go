package identity

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

func TestUsable(t *testing.T) {
	for _, id := range []string{"", " ", "null", "NULL", "undefined", "Anonymous", "0", "-1", " null ", "[object Object]"} {
		require.False(t, Usable(id), "%q", id)
	}
	for _, id := range []string{"u-1", "00", "1", "anonymous-42", "a1b2c3d4-0000-4000-8000-000000000000"} {
		require.True(t, Usable(id), "%q", id)
	}
}

func TestResolve(t *testing.T) {
	type step struct {
		ev      schemas.RawEvent
		links   int
		profile string
		visitor string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"anonymous only", []step{
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "a1", "a1"},
		}},
		{"user only", []step{
			{schemas.RawEvent{Type: "track", UserID: "u1"}, 0, "u1", "u1"},
		}},
		{"identify links the anonymous history that follows", []step{
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "a1", "a1"},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"}, 1, "u1", "a1"},
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "u1", "a1"},
			{schemas.RawEvent{Type: "track", AnonymousID: "a1", UserID: "u1"}, 0, "u1", "a1"},
		}},
		{"any event with both ids links", []step{
			{schemas.RawEvent{Type: "track", AnonymousID: "a1", UserID: "u1"}, 1, "u1", "a1"},
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "u1", "a1"},
		}},
		{"relinked by the last user", []step{
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"}, 1, "u1", "a1"},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u2"}, 1, "u2", "a1"},
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "u2", "a1"},
		}},
		{"alias links previousId", []step{
			{schemas.RawEvent{Type: "alias", AnonymousID: "a1", PreviousID: "old", UserID: "u1"}, 2, "u1", "a1"},
			{schemas.RawEvent{Type: "page", AnonymousID: "old"}, 0, "u1", "old"},
		}},
		{"placeholders are never linked", []step{
			{schemas.RawEvent{Type: "identify", AnonymousID: "null", UserID: "u1"}, 0, "u1", "u1"},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "undefined"}, 0, "a1", "a1"},
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, 0, "a1", "a1"},
			{schemas.RawEvent{Type: "alias", AnonymousID: "a2", PreviousID: "0", UserID: "u3"}, 1, "u3", "a2"},
		}},
		{"no usable id", []step{
			{schemas.RawEvent{Type: "page", AnonymousID: "anonymous", UserID: "-1"}, 0, "", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewResolver(stream.NewTestStore("identities"))
			for i, s := range tt.steps {
				n, _ := r.Observe(&s.ev)
				require.Equal(t, s.links, n, "links written at step %d", i)
				require.Equal(t, s.profile, r.ProfileID(&s.ev), "profile at step %d", i)
				require.Equal(t, s.visitor, VisitorID(&s.ev), "visitor at step %d", i)
			}
		})
	}
}

func TestMerges(t *testing.T) {
	type step struct {
		ev   schemas.RawEvent
		want []Merge
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"login merges the anonymous profile once", []step{
			{schemas.RawEvent{Type: "page", AnonymousID: "a1"}, nil},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"}, []Merge{{From: "a1", Into: "u1", Visitor: "a1"}}},
			{schemas.RawEvent{Type: "track", AnonymousID: "a1", UserID: "u1"}, nil},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"}, nil},
		}},
		{"a shared device moving to another user merges nothing", []step{
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"}, []Merge{{From: "a1", Into: "u1", Visitor: "a1"}}},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u2"}, nil},
		}},
		{"alias of an old user id merges it", []step{
			{schemas.RawEvent{Type: "alias", AnonymousID: "a1", PreviousID: "old-id", UserID: "u1"},
				[]Merge{{From: "a1", Into: "u1", Visitor: "a1"}, {From: "old-id", Into: "u1", Visitor: "old-id"}}},
		}},
		{"alias of an anonymous id already linked merges its user", []step{
			{schemas.RawEvent{Type: "identify", AnonymousID: "a2", UserID: "u1"}, []Merge{{From: "a2", Into: "u1", Visitor: "a2"}}},
			{schemas.RawEvent{Type: "alias", UserID: "u9", PreviousID: "a2"}, []Merge{{From: "u1", Into: "u9", Visitor: "a2"}}},
		}},
		{"alias whose previous id is the anonymous id merges once", []step{
			{schemas.RawEvent{Type: "alias", AnonymousID: "a1", PreviousID: "a1", UserID: "u1"}, []Merge{{From: "a1", Into: "u1", Visitor: "a1"}}},
		}},
		{"placeholders never merge", []step{
			{schemas.RawEvent{Type: "identify", AnonymousID: "null", UserID: "u1"}, nil},
			{schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "0"}, nil},
			{schemas.RawEvent{Type: "alias", UserID: "u1", PreviousID: "undefined"}, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewResolver(stream.NewTestStore("identities"))
			for i, s := range tt.steps {
				_, got := r.Observe(&s.ev)
				require.Equal(t, s.want, got, "merges at step %d", i)
			}
		})
	}
}

func TestObserveWithoutLinkDoesNotAllocate(t *testing.T) {
	r := NewResolver(stream.NewTestStore("identities"))
	ev := &schemas.RawEvent{Type: "track", AnonymousID: "a1", UserID: "u1"}
	r.Observe(ev)
	require.Zero(t, testing.AllocsPerRun(100, func() { r.Observe(ev) }))
}

func TestLinksSurviveRestore(t *testing.T) {
	a := stream.NewTestStore("identities")
	r := NewResolver(a)
	r.Observe(&schemas.RawEvent{Type: "identify", AnonymousID: "a1", UserID: "u1"})
	r.Observe(&schemas.RawEvent{Type: "identify", AnonymousID: "a2", UserID: "u2"})
	r.Forget("a2")

	b := stream.NewTestStore("identities")
	b.Restore(a.Changelog()...)
	r2 := NewResolver(b)
	require.Equal(t, "u1", r2.ProfileID(&schemas.RawEvent{AnonymousID: "a1"}))
	require.Equal(t, "a2", r2.ProfileID(&schemas.RawEvent{AnonymousID: "a2"}), "forgotten link is tombstoned")
}
