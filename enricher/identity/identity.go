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

// Observe learns the links an event carries and reports how many it wrote.
func (r *Resolver) Observe(ev *schemas.RawEvent) int {
	if !Usable(ev.UserID) {
		return 0
	}
	n := 0
	if r.link(ev.AnonymousID, ev.UserID) {
		n++
	}
	if ev.Type == "alias" && ev.PreviousID != ev.UserID && r.link(ev.PreviousID, ev.UserID) {
		n++
	}
	return n
}

func (r *Resolver) link(anon, user string) bool {
	if !Usable(anon) {
		return false
	}
	if cur, ok := r.store.Get(anon); ok && string(cur) == user {
		return false
	}
	r.store.Put(anon, []byte(user))
	return true
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
