package segmenter

import (
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// rees46Path is the real clickstream of ../shared/data (see its SOURCES.md).
var rees46Path = filepath.Join("..", "..", "shared", "data", "clickstream", "rees46-multicategory", "2019-Oct-head17k.csv")

type rees46Row struct {
	at    time.Time
	kind  string // view, cart, purchase
	user  string
	price string // as written in the file
}

func readREES46(tb testing.TB) []rees46Row {
	tb.Helper()
	f, err := os.Open(rees46Path)
	if os.IsNotExist(err) {
		tb.Skipf("REES46 data not found at %s", rees46Path)
	}
	require.NoError(tb, err)
	defer f.Close()
	r := csv.NewReader(f)
	_, err = r.Read() // header
	require.NoError(tb, err)
	var rows []rees46Row
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(tb, err)
		at, err := time.Parse("2006-01-02 15:04:05 MST", rec[0])
		require.NoError(tb, err)
		rows = append(rows, rees46Row{at: at, kind: rec[1], user: rec[7], price: rec[6]})
	}
	require.Len(tb, rows, 17434)
	return rows
}

// abandonedReference computes, straight from the rows, who carted and did
// not purchase within the window (completion at t < cart+window), with the
// window opened by the first cart while none is open and the profile is not
// a member; and who is still pending when the data ends.
func abandonedReference(rows []rees46Row, window time.Duration) (entered, pending map[string]bool, exits int) {
	type st struct {
		member bool
		open   bool
		start  time.Time
	}
	byUser := map[string]*st{}
	entered, pending = map[string]bool{}, map[string]bool{}
	end := rows[len(rows)-1].at
	for _, r := range rows {
		s := byUser[r.user]
		if s == nil {
			s = &st{}
			byUser[r.user] = s
		}
		if s.open && !r.at.Before(s.start.Add(window)) {
			s.open, s.member = false, true
			entered[r.user] = true
		}
		switch r.kind {
		case "purchase":
			if s.open {
				s.open = false
			} else if s.member {
				s.member = false
				exits++
			}
		case "cart":
			if !s.member && !s.open {
				s.open, s.start = true, r.at
			}
		}
	}
	for u, s := range byUser {
		if s.open {
			if !end.Before(s.start.Add(window)) {
				entered[u] = true
			} else {
				pending[u] = true
			}
		}
	}
	return entered, pending, exits
}

const rees46Definitions = `
segments:
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 10m
`

func rees46Event(r rees46Row, i int) *schemas.EnrichedEvent {
	typ, name := "track", "Product Viewed" // as `sillage replay` sends a view
	switch r.kind {
	case "cart":
		typ, name = "track", "Product Added"
	case "purchase":
		typ, name = "track", "Order Completed"
	}
	ms := r.at.UnixMilli()
	props := `{"price":` + r.price + `}`
	if r.kind == "purchase" {
		props = `{"revenue":` + r.price + `}`
	}
	return &schemas.EnrichedEvent{
		Raw: schemas.RawEvent{EventID: "rees46-" + strconv.Itoa(i), Source: "rees46", Type: typ, Event: name, UserID: r.user,
			Timestamp: ms, ReceivedAt: ms, Consent: fullConsent(), PropertiesJSON: props},
		ProfileID: r.user, EventTime: ms,
	}
}

// TestREES46CartAbandonment replays the real clickstream through four
// partitions with a 10-minute window: the entries are exactly the users the
// reference finds, and users whose window is still open at the end of the
// data stay pending. The lateness does not change the outcome.
func TestREES46CartAbandonment(t *testing.T) {
	rows := readREES46(t)
	wantEntered, wantPending, wantExits := abandonedReference(rows, 10*time.Minute)
	require.Len(t, wantEntered, 38, "our count")
	require.Len(t, wantPending, 16, "our count")
	require.Equal(t, 1, wantExits)

	for _, lateness := range []time.Duration{0, 10 * time.Second, time.Hour} {
		t.Run("lateness "+lateness.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.AllowedLateness = lateness
			h := newHarness(t, cfg, rees46Definitions)
			const parts = 4
			tasks := make([]*task, parts)
			for p := range tasks {
				tk, err := h.seg.NewTask(t.Context(), stream.TopicPartition{Partition: int32(p)}, map[string]*stream.Store{StoreName: stream.NewTestStore(StoreName)})
				require.NoError(t, err)
				tasks[p] = tk.(*task)
			}
			var out stream.Output
			offsets := make([]int64, parts)
			for i, r := range rows {
				hs := fnv.New32a()
				hs.Write([]byte(r.user))
				p := hs.Sum32() % parts
				rec := h.record(rees46Event(r, i))
				rec.Partition, rec.Offset = int32(p), offsets[p]
				offsets[p]++
				require.NoError(t, tasks[p].Process(t.Context(), rec, &out))
				if i%100 == 99 { // a batch: every task ticks
					h.now = h.now.Add(10 * time.Millisecond)
					for _, tk := range tasks {
						require.NoError(t, tk.Tick(t.Context(), h.now, &out))
					}
				}
			}
			// The data ends; once the partitions are quiet everything up to
			// the last event time is decided.
			h.now = h.now.Add(cfg.QuietPeriod)
			for _, tk := range tasks {
				require.NoError(t, tk.Tick(t.Context(), h.now, &out))
			}
			got, exits := map[string]bool{}, 0
			for _, mt := range h.transitions(out.Records()) {
				switch mt.Transition {
				case schemas.Entered:
					require.False(t, got[mt.ProfileID], "one entry per user here")
					got[mt.ProfileID] = true
				case schemas.Exited:
					exits++
				}
			}
			require.Equal(t, sortedKeys(wantEntered), sortedKeys(got))
			require.Equal(t, wantExits, exits)
			require.Equal(t, float64(len(wantPending)), h.gauge("timers"))
			var pendingUsers []string
			for _, tk := range tasks {
				tk.store.Range(func(k string, v []byte) bool {
					if k == offsetKey {
						return true
					}
					st, err := decodeState(v)
					require.NoError(t, err)
					if st.Segments["cart_abandoned"].Due != 0 {
						pendingUsers = append(pendingUsers, k[len(profilePrefix):])
					}
					return true
				})
			}
			sort.Strings(pendingUsers)
			require.Equal(t, sortedKeys(wantPending), pendingUsers)
			// Later ticks decide nothing more: a replay of 2019 is not live.
			before := out.Len()
			for _, tk := range tasks {
				require.NoError(t, tk.Tick(t.Context(), h.now.Add(time.Hour), &out))
			}
			require.Equal(t, before, out.Len())
		})
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// slidingReference computes, straight from the rows and without the
// segmenter's code, the membership of "at least n views within window":
// a user is a member at time t when n of their views fall in
// (t-window, t]. With views v0 ≤ v1 ≤ … (file order, which is time order),
// the i-th view (i ≥ n-1) makes them a member over [v[i], v[i-n+1]+window)
// when v[i]-v[i-n+1] < window; membership is the union of these intervals,
// and each connected stretch of it is one entry. A stretch that ends at or
// before the last event time of the data has exited; one that ends later is
// still a member (its exit timer pending).
func slidingReference(rows []rees46Row, kind string, n int, window time.Duration) (entries, exits map[string]int, members map[string]bool) {
	views := map[string][]time.Time{}
	for _, r := range rows {
		if r.kind == kind {
			views[r.user] = append(views[r.user], r.at)
		}
	}
	end := rows[len(rows)-1].at
	entries, exits, members = map[string]int{}, map[string]int{}, map[string]bool{}
	for user, v := range views {
		var open bool
		var stretchEnd time.Time
		for i := n - 1; i < len(v); i++ {
			from, to := v[i], v[i-n+1].Add(window)
			if !from.Before(to) {
				continue // the n views span the whole window or more
			}
			if open && from.Before(stretchEnd) || open && from.Equal(stretchEnd) {
				stretchEnd = to // overlaps or touches: the same stretch
				continue
			}
			if open {
				exits[user]++ // the previous stretch ended before this one
			}
			entries[user]++
			open, stretchEnd = true, to
		}
		if open {
			if !stretchEnd.After(end) {
				exits[user]++
			} else {
				members[user] = true
			}
		}
	}
	return entries, exits, members
}

// TestSlidingReference checks the reference itself on a hand-made case.
func TestSlidingReference(t *testing.T) {
	var rows []rees46Row
	for _, m := range []int{0, 1, 2, 20, 21, 22, 25} {
		rows = append(rows, rees46Row{at: t0.Add(time.Duration(m) * time.Minute), kind: "view", user: "u"})
	}
	rows = append(rows, rees46Row{at: t0.Add(25 * time.Minute), kind: "cart", user: "v"})
	entries, exits, members := slidingReference(rows, "view", 3, 10*time.Minute)
	// [2m, 10m) then [22m, 30m) ∪ [25m, 31m): two entries, one exit, a
	// member when the data ends at 25m.
	require.Equal(t, map[string]int{"u": 2}, entries)
	require.Equal(t, map[string]int{"u": 1}, exits)
	require.Equal(t, map[string]bool{"u": true}, members)
}

// sequenceReference computes from the rows, per user, the entries and exits
// of "a cart then a purchase within window, member for memberFor": the user
// is a member over [p, p+memberFor) from a purchase p at which they are not
// a member, if a cart c with p-window < c ≤ p came before it (in file order)
// at a time they were not a member and after their previous entry (carts
// seen while a member do not count). An exit is counted when p+memberFor is
// at or before the last event time of the data.
func sequenceReference(rows []rees46Row, window, memberFor time.Duration) (entries, exits map[string]int) {
	type user struct {
		carts      []time.Time // eligible carts
		memberTill time.Time   // zero: never entered
	}
	users := map[string]*user{}
	entries, exits = map[string]int{}, map[string]int{}
	end := rows[len(rows)-1].at
	for _, r := range rows {
		u := users[r.user]
		if u == nil {
			u = &user{}
			users[r.user] = u
		}
		member := !u.memberTill.IsZero() && r.at.Before(u.memberTill)
		switch {
		case member:
		case r.kind == "cart":
			u.carts = append(u.carts, r.at)
		case r.kind == "purchase":
			for _, c := range u.carts {
				if !c.After(r.at) && r.at.Sub(c) < window {
					entries[r.user]++
					u.memberTill, u.carts = r.at.Add(memberFor), nil
					if !u.memberTill.After(end) {
						exits[r.user]++
					}
					break
				}
			}
		}
	}
	return entries, exits
}

// bigSpenders lists, from the rows, the users whose purchases add up to
// more than limit.
func bigSpenders(tb testing.TB, rows []rees46Row, limit float64) map[string]int {
	spent := map[string]float64{}
	for _, r := range rows {
		if r.kind == "purchase" {
			p, err := strconv.ParseFloat(r.price, 64)
			require.NoError(tb, err)
			spent[r.user] += p
		}
	}
	out := map[string]int{}
	for u, v := range spent {
		if v > limit {
			out[u] = 1
		}
	}
	return out
}

const rees46WindowDefinitions = `
computed:
  - name: lifetime_value
    aggregate: sum
    where: event.type == "track" && event.name == "Order Completed" && has(event.properties.revenue)
    value: event.properties.revenue
segments:
  - name: spent_500
    event:
      enter: profile.computed.lifetime_value > 500
  - name: cart_then_purchase
    sequence:
      steps:
        - event.type == "track" && event.name == "Product Added"
        - event.type == "track" && event.name == "Order Completed"
      within: 1h
      member_for: 30m
  - name: viewed_3_in_10m
    window:
      match: event.type == "track" && event.name == "Product Viewed"
      within: 10m
      at_least: 3
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 10m
`

// TestREES46SlidingWindow replays the real clickstream through four
// partitions with a sliding-window segment, an absence segment, a sequence
// and a segment on a computed lifetime value defined together: per user, the entries and exits of each are
// exactly those the references compute from the CSV, and the window's
// members left at the end are the reference's (their exit timers pending).
// A crash halfway through (the batch in flight aborted, the tasks restored
// from the committed changelogs, the batch redelivered) changes nothing,
// and no transition is committed twice.
func TestREES46SlidingWindow(t *testing.T) {
	rows := readREES46(t)
	wantEntries, wantExits, wantMembers := slidingReference(rows, "view", 3, 10*time.Minute)
	absEntered, _, absExits := abandonedReference(rows, 10*time.Minute)
	seqEntries, seqExits := sequenceReference(rows, time.Hour, 30*time.Minute)
	spenders := bigSpenders(t, rows, 500)
	t.Logf("reference: %d users spent more than 500", len(spenders))
	require.NotEmpty(t, spenders)
	seqTotal := 0
	for _, c := range seqEntries {
		seqTotal += c
	}
	t.Logf("reference: %d users enter cart_then_purchase, %d entries", len(seqEntries), seqTotal)
	require.Equal(t, 62, seqTotal, "our count")
	total := 0
	for _, c := range wantEntries {
		total += c
	}
	t.Logf("reference: %d users enter viewed_3_in_10m, %d entries, %d still members at the end", len(wantEntries), total, len(wantMembers))
	require.Len(t, wantEntries, 1955, "our count")
	require.Equal(t, 2029, total, "our count: some users enter more than once")
	require.Len(t, wantMembers, 753, "our count")

	for _, tc := range []struct {
		lateness time.Duration
		restart  bool
	}{{0, false}, {time.Hour, false}, {10 * time.Second, true}} {
		t.Run(fmt.Sprintf("lateness %s restart %v", tc.lateness, tc.restart), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.AllowedLateness = tc.lateness
			h := newHarness(t, cfg, rees46WindowDefinitions)
			const parts = 4
			tasks := make([]*task, parts)
			stores := make([]*stream.Store, parts)
			newTask := func(p int, store *stream.Store) {
				seg, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
					Serde: h.serde, Topics: testTopics(), Clock: func() time.Time { return h.now }, Definitions: h.defs})
				require.NoError(t, err)
				tk, err := seg.NewTask(t.Context(), stream.TopicPartition{Partition: int32(p)}, map[string]*stream.Store{StoreName: store})
				require.NoError(t, err)
				tasks[p], stores[p] = tk.(*task), store
			}
			for p := range tasks {
				newTask(p, stream.NewTestStore(StoreName))
			}
			var out stream.Output
			var committed []*kgo.Record // the outputs of committed batches
			offsets := make([]int64, parts)
			changelogs := make([][]*kgo.Record, parts)
			committedAt, committedOffsets := 0, make([]int64, parts) // next row and offsets after the last commit
			restarted := false
			for i := 0; i < len(rows); i++ {
				r := rows[i]
				hs := fnv.New32a()
				hs.Write([]byte(r.user))
				p := hs.Sum32() % parts
				rec := h.record(rees46Event(r, i))
				rec.Partition, rec.Offset = int32(p), offsets[p]
				offsets[p]++
				require.NoError(t, tasks[p].Process(t.Context(), rec, &out))
				if i%100 == 99 { // a batch: every task ticks and commits
					h.now = h.now.Add(10 * time.Millisecond)
					for p, tk := range tasks {
						require.NoError(t, tk.Tick(t.Context(), h.now, &out))
						changelogs[p] = append(changelogs[p], stores[p].Changelog()...)
					}
					committedAt = i + 1
					copy(committedOffsets, offsets)
					committed = append(committed, out.Records()...)
					out = stream.Output{}
				}
				if tc.restart && !restarted && i == len(rows)/2 {
					// A crash: the batch in flight is lost (its outputs
					// were not committed either) and redelivered to new
					// tasks restored from the committed changelogs.
					restarted = true
					for p := range tasks {
						require.NoError(t, tasks[p].Close())
						store := stream.NewTestStore(StoreName)
						store.Restore(changelogs[p]...)
						newTask(p, store)
					}
					aborted := h.transitions(out.Records())
					out = stream.Output{} // the aborted batch's outputs are never read (read-committed)
					t.Logf("crash at row %d: %d transitions of the batch in flight aborted, rows from %d redelivered", i, len(aborted), committedAt)
					i = committedAt - 1
					copy(offsets, committedOffsets)
				}
			}
			h.now = h.now.Add(cfg.QuietPeriod)
			for _, tk := range tasks {
				require.NoError(t, tk.Tick(t.Context(), h.now, &out))
			}
			committed = append(committed, out.Records()...)
			entries := map[string]map[string]int{}
			exits := map[string]map[string]int{}
			members := map[string]map[string]bool{"viewed_3_in_10m": {}, "cart_abandoned": {}, "cart_then_purchase": {}, "spent_500": {}}
			ids := map[string]bool{}
			for _, mt := range h.transitions(committed) {
				require.False(t, ids[mt.ID], "a transition committed twice: %+v", mt)
				ids[mt.ID] = true
				m := entries
				if mt.Transition == schemas.Exited {
					m = exits
				}
				if m[mt.Segment] == nil {
					m[mt.Segment] = map[string]int{}
				}
				m[mt.Segment][mt.ProfileID]++
				members[mt.Segment][mt.ProfileID] = mt.Transition == schemas.Entered
			}
			require.Empty(t, diffCounts(wantEntries, entries["viewed_3_in_10m"]), "entries per user")
			require.Empty(t, diffCounts(wantExits, exits["viewed_3_in_10m"]), "exits per user")
			require.Equal(t, sortedKeys(wantMembers), sortedKeys(trueKeys(members["viewed_3_in_10m"])), "members at the end")
			absWant := map[string]int{}
			for u := range absEntered {
				absWant[u] = 1
			}
			require.Empty(t, diffCounts(absWant, entries["cart_abandoned"]), "cart_abandoned entries per user")
			require.Empty(t, diffCounts(seqEntries, entries["cart_then_purchase"]), "cart_then_purchase entries per user")
			require.Empty(t, diffCounts(seqExits, exits["cart_then_purchase"]), "cart_then_purchase exits per user")
			require.Empty(t, diffCounts(spenders, entries["spent_500"]), "spent_500 (a computed lifetime value) per user")
			gotAbsExits := 0
			for _, c := range exits["cart_abandoned"] {
				gotAbsExits += c
			}
			require.Equal(t, absExits, gotAbsExits)
		})
	}
}

func trueKeys(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		if v {
			out[k] = true
		}
	}
	return out
}

// diffCounts lists the users whose counts differ (at most 20).
func diffCounts(want, got map[string]int) []string {
	var diffs []string
	for _, u := range sortedKeys(trueKeysInt(want, got)) {
		if want[u] != got[u] && len(diffs) < 20 {
			diffs = append(diffs, fmt.Sprintf("%s: want %d, got %d", u, want[u], got[u]))
		}
	}
	return diffs
}

func trueKeysInt(ms ...map[string]int) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}
