package geo

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Event reports what Watch did about a change of a database file.
type Event struct {
	// Role is RoleCity or RoleASN.
	Role string
	// Path is the database file.
	Path string
	// Database describes the database in use after the event: the new one
	// on success, the old one on failure.
	Database string
	// Built is the build time of the database in use after the event.
	Built time.Time
	// Err is nil when the new file is in use. Otherwise the file is
	// missing or was refused (the same checks as at startup) and the
	// previous database stays in use; a refused file is retried only once
	// it changes again.
	Err error
}

// Watch polls the database files every interval and swaps in a file that
// changed (size, modification time or identity: an atomic rename of a new
// file is a change) once it has stayed the same for one more interval, so
// that a file being copied in place is not read half-written. The new file
// passes the same checks as at startup; lookups in flight finish on the
// database they started with. onEvent (optional) is called, from Watch's
// goroutine, after each reload or refused file, and once when a file goes
// missing. Watch returns nil when ctx is done.
func (l *Locator) Watch(ctx context.Context, interval time.Duration, onEvent func(Event)) error {
	if interval <= 0 {
		return fmt.Errorf("geo: watch interval must be positive, got %s", interval)
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	var watchers []*watcher
	for _, s := range []*slot{l.slotOrNil(true), l.slotOrNil(false)} {
		if s != nil {
			watchers = append(watchers, &watcher{s: s})
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for _, w := range watchers {
				if ev, ok := w.poll(); ok {
					onEvent(ev)
				}
			}
		}
	}
}

func (l *Locator) slotOrNil(city bool) *slot {
	switch {
	case l == nil:
		return nil
	case city:
		return l.city
	default:
		return l.asn
	}
}

// watcher is the polling state of one slot, owned by Watch's goroutine.
type watcher struct {
	s       *slot
	prev    os.FileInfo // what the previous poll saw
	refused os.FileInfo // the last file refused, not retried until it changes
	missing bool        // the file was missing at the previous poll
}

// poll checks the file once and reports an event when something happened.
func (w *watcher) poll() (Event, bool) {
	cur := w.s.cur.Load()
	if cur == nil {
		return Event{}, false // closed
	}
	fi, err := os.Stat(w.s.path)
	if err != nil {
		w.prev = nil
		if w.missing {
			return Event{}, false
		}
		w.missing = true
		return w.event(cur, fmt.Errorf("%s database %s: %w; keeping the database in use", w.s.role, w.s.path, err)), true
	}
	w.missing = false
	settled := w.prev != nil && sameFile(fi, w.prev)
	w.prev = fi
	if sameFile(fi, cur.stamp) || (w.refused != nil && sameFile(fi, w.refused)) || !settled {
		return Event{}, false
	}
	d, err := load(w.s.path, w.s.role, w.s.layout)
	if err != nil {
		w.refused = fi
		return w.event(cur, fmt.Errorf("reloading: %w; keeping the database in use", err)), true
	}
	if !w.s.cur.CompareAndSwap(cur, d) {
		return Event{}, false // closed meanwhile
	}
	w.refused = nil
	return w.event(d, nil), true
}

func (w *watcher) event(d *database, err error) Event {
	return Event{Role: w.s.role, Path: w.s.path, Database: d.describe(), Built: d.built, Err: err}
}

// sameFile reports whether a and b are the same file with the same size and
// modification time.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
