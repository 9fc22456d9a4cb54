package segmenter

import (
	"encoding/csv"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// rees46Path is the real clickstream of ../shared/data (see its SOURCES.md).
var rees46Path = filepath.Join("..", "..", "shared", "data", "clickstream", "rees46-multicategory", "2019-Oct-head17k.csv")

type rees46Row struct {
	at   time.Time
	kind string // view, cart, purchase
	user string
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
		rows = append(rows, rees46Row{at: at, kind: rec[1], user: rec[7]})
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
	typ, name := "page", ""
	switch r.kind {
	case "cart":
		typ, name = "track", "Product Added"
	case "purchase":
		typ, name = "track", "Order Completed"
	}
	ms := r.at.UnixMilli()
	return &schemas.EnrichedEvent{
		Raw: schemas.RawEvent{EventID: "rees46-" + strconv.Itoa(i), Source: "rees46", Type: typ, Event: name, UserID: r.user,
			Timestamp: ms, ReceivedAt: ms, Consent: fullConsent()},
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
