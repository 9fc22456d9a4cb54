package identity

import (
	"strings"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// blocked are placeholder ids that buggy or privacy-conscious clients send
// instead of a real identifier; linking on them would merge strangers.
var blocked = []string{"null", "undefined", "anonymous", "0", "-1", "none", "nil", "[object object]"}

// Usable reports whether id identifies someone (not empty, not a placeholder).
func Usable(id string) bool {
	id = strings.TrimSpace(id)
	if id == "" {
		return false
	}
	if len(id) > len("[object object]") {
		return true
	}
	for _, b := range blocked {
		if strings.EqualFold(id, b) {
			return false
		}
	}
	return true
}

// Resolver links anonymous ids to user ids in a store. Not safe for
// concurrent use (one per partition task).
type Resolver struct {
	store *stream.Store
}

// NewResolver returns a resolver over store.
func NewResolver(store *stream.Store) *Resolver { return &Resolver{store: store} }

// Merge says that the profile From is the same person as the profile Into
// from now on: the anonymous profile of a visitor who logged in, or the
// previous id of an alias. Downstream stages fold From's history and state
// into Into.
type Merge struct {
	From, Into string
	// Visitor is the anonymous id (or alias previous id) the link was made on.
	Visitor string
}

// Observe learns the links an event carries. It reports how many links it
// wrote and the profile merges they make (nil in the common case, without
// allocating). A first link of an anonymous id merges the anonymous profile
// (the id itself) into the user's; an alias merges the previous id's current
// profile into the user's. Re-linking an anonymous id that already belongs to
// another user merges nothing: a shared device moves to its new user, and
// the two users stay two people.
func (r *Resolver) Observe(ev *schemas.RawEvent) (int, []Merge) {
	if !Usable(ev.UserID) {
		return 0, nil
	}
	n := 0
	var merges []Merge
	if prev, wrote := r.link(ev.AnonymousID, ev.UserID); wrote {
		n++
		if prev == "" {
			merges = append(merges, Merge{From: ev.AnonymousID, Into: ev.UserID, Visitor: ev.AnonymousID})
		}
	}
	if ev.Type == "alias" && ev.PreviousID != ev.UserID && Usable(ev.PreviousID) {
		from := ev.PreviousID
		if u, ok := r.store.Get(from); ok {
			from = string(u)
		}
		if _, wrote := r.link(ev.PreviousID, ev.UserID); wrote {
			n++
		}
		if from != ev.UserID && (len(merges) == 0 || merges[0].From != from) {
			merges = append(merges, Merge{From: from, Into: ev.UserID, Visitor: ev.PreviousID})
		}
	}
	return n, merges
}

// link points anon at user; it reports the user anon pointed at before ("" if
// none) and whether it wrote.
func (r *Resolver) link(anon, user string) (prev string, wrote bool) {
	if !Usable(anon) {
		return "", false
	}
	if cur, ok := r.store.Get(anon); ok {
		if string(cur) == user {
			return user, false
		}
		prev = string(cur)
	}
	r.store.Put(anon, []byte(user))
	return prev, true
}

// ProfileID returns the profile id of ev, or "" when it has no usable id.
func (r *Resolver) ProfileID(ev *schemas.RawEvent) string {
	if Usable(ev.UserID) {
		return ev.UserID
	}
	if !Usable(ev.AnonymousID) {
		return ""
	}
	if u, ok := r.store.Get(ev.AnonymousID); ok {
		return string(u)
	}
	return ev.AnonymousID
}

// VisitorID returns the key sessions are tracked by: the anonymous id (one
// browser or device, and the raw topic's partitioning key), else the user
// id; "" when neither is usable.
func VisitorID(ev *schemas.RawEvent) string {
	if Usable(ev.AnonymousID) {
		return ev.AnonymousID
	}
	if Usable(ev.UserID) {
		return ev.UserID
	}
	return ""
}

// Forget removes the link of an anonymous id (erasure, issue 7).
func (r *Resolver) Forget(anon string) { r.store.Delete(anon) }
