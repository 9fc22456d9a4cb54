package geo

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

// watched opens a locator on copies of the named test databases in a
// temporary directory and runs Watch on it until the test ends; events
// arrive on the returned channel.
func watched(tb testing.TB, cityName, asnName string) (l *Locator, city, asn string, events <-chan Event) {
	tb.Helper()
	dir := tb.TempDir()
	var o Options
	if cityName != "" {
		city = filepath.Join(dir, "city.mmdb")
		replaceFile(tb, testDB(tb, cityName), city)
		o.CityPath = city
	}
	if asnName != "" {
		asn = filepath.Join(dir, "asn.mmdb")
		replaceFile(tb, testDB(tb, asnName), asn)
		o.ASNPath = asn
	}
	l, err := OpenWith(o)
	require.NoError(tb, err)
	ch := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Watch(ctx, 5*time.Millisecond, func(ev Event) { ch <- ev }) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done, "Watch returns nil when its context ends")
		require.NoError(tb, l.Close())
	})
	return l, city, asn, ch
}

// replaceFile writes src's content to dst atomically: a temporary file
// renamed over dst, as database updaters do.
func replaceFile(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	require.NoError(tb, err)
	tmp := dst + ".tmp"
	require.NoError(tb, os.WriteFile(tmp, b, 0o600))
	require.NoError(tb, os.Rename(tmp, dst))
}

func nextEvent(tb testing.TB, events <-chan Event) Event {
	tb.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		tb.Fatal("no watch event within 10 s")
		return Event{}
	}
}

func lookup(tb testing.TB, l *Locator, ip string) schemas.Geo {
	tb.Helper()
	var g schemas.Geo
	require.NoError(tb, l.Lookup(netip.MustParseAddr(ip), &g))
	return g
}

func TestWatchReloads(t *testing.T) {
	tests := []struct {
		name string
		// replace changes the city database file (path) to a valid one.
		replace func(tb testing.TB, src, path string)
	}{
		{"atomic rename", replaceFile},
		{"written in place", func(tb testing.TB, src, path string) {
			b, err := os.ReadFile(src)
			require.NoError(tb, err)
			require.NoError(tb, os.WriteFile(path, b, 0o600))
		}},
		{"removed then recreated", func(tb testing.TB, src, path string) {
			require.NoError(tb, os.Remove(path))
			replaceFile(tb, src, path)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, city, _, events := watched(t, "GeoIP2-City-Test.mmdb", "")
			require.Equal(t, "London", lookup(t, l, "81.2.69.160").City)

			tt.replace(t, testDB(t, "GeoIP2-Country-Test.mmdb"), city)
			ev := nextEvent(t, events)
			for ev.Err != nil { // a removal may be seen first
				require.ErrorContains(t, ev.Err, "no such file")
				ev = nextEvent(t, events)
			}
			require.Equal(t, RoleCity, ev.Role)
			require.Equal(t, city, ev.Path)
			require.Contains(t, ev.Database, "GeoIP2-Country")
			require.False(t, ev.Built.IsZero())
			g := lookup(t, l, "81.2.69.160")
			require.Equal(t, "GB", g.CountryCode)
			require.Empty(t, g.City, "the country database answers now")
			c, _ := l.Describe()
			require.Contains(t, c, "GeoIP2-Country")
		})
	}
}

func TestWatchKeepsOldDatabaseOnBadReplacement(t *testing.T) {
	tests := []struct {
		name    string
		write   func(tb testing.TB, path string)
		wantErr string
	}{
		{"broken search tree", func(tb testing.TB, path string) {
			replaceFile(tb, testDB(tb, "MaxMind-DB-test-broken-search-tree-24.mmdb"), path)
		}, "verifying city database"},
		{"truncated", func(tb testing.TB, path string) {
			b, err := os.ReadFile(testDB(tb, "GeoIP2-City-Test.mmdb"))
			require.NoError(tb, err)
			require.NoError(tb, os.WriteFile(path+".tmp", b[:len(b)/3], 0o600))
			require.NoError(tb, os.Rename(path+".tmp", path))
		}, "opening city database"},
		{"ASN database", func(tb testing.TB, path string) {
			replaceFile(tb, testDB(tb, "GeoLite2-ASN-Test.mmdb"), path)
		}, `is of type "GeoLite2-ASN", which cannot answer city lookups`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, city, _, events := watched(t, "GeoIP2-City-Test.mmdb", "")
			before := lookup(t, l, "81.2.69.160")

			tt.write(t, city)
			ev := nextEvent(t, events)
			require.ErrorContains(t, ev.Err, tt.wantErr)
			require.ErrorContains(t, ev.Err, "keeping the database in use")
			require.Contains(t, ev.Database, "GeoIP2-City", "the event names the database still in use")
			require.Equal(t, before, lookup(t, l, "81.2.69.160"), "the old database still answers")

			// A good file afterwards is taken.
			replaceFile(t, testDB(t, "GeoIP2-Country-Test.mmdb"), city)
			ev = nextEvent(t, events)
			require.NoError(t, ev.Err)
			require.Contains(t, ev.Database, "GeoIP2-Country")
			require.Empty(t, lookup(t, l, "81.2.69.160").City)
		})
	}
}

func TestWatchASNAndFlat(t *testing.T) {
	l, city, asn, events := watched(t, "GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb")
	require.Equal(t, int64(1221), lookup(t, l, "1.128.0.1").ASN)

	replaceFile(t, testDB(t, "GeoIP2-ISP-Test.mmdb"), asn)
	ev := nextEvent(t, events)
	require.NoError(t, ev.Err)
	require.Equal(t, RoleASN, ev.Role)
	require.Contains(t, ev.Database, "GeoIP2-ISP")

	// The city database becomes DB-IP's flat one (gzipped, as shipped).
	replaceFile(t, dbipPath(t), city)
	ev = nextEvent(t, events)
	require.NoError(t, ev.Err)
	require.Contains(t, ev.Database, "country ipvAll flat")
	require.Equal(t, "Netherlands", lookup(t, l, "193.0.6.139").Country)
}

func TestWatchMissingFileReportedOnce(t *testing.T) {
	l, city, _, events := watched(t, "GeoIP2-City-Test.mmdb", "")
	require.NoError(t, os.Remove(city))
	ev := nextEvent(t, events)
	require.ErrorContains(t, ev.Err, "no such file")
	require.Equal(t, "London", lookup(t, l, "81.2.69.160").City)
	// Still missing after many polls: no second event.
	require.Never(t, func() bool { return len(events) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
}

func TestWatchInterval(t *testing.T) {
	l, err := Open("", "")
	require.NoError(t, err)
	require.ErrorContains(t, l.Watch(context.Background(), 0, nil), "interval must be positive")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, l.Watch(ctx, time.Second, nil), "no databases: returns when ctx ends")
}

// TestWatchConcurrentLookups swaps databases back and forth while
// lookups run (meaningful under -race): every lookup sees one whole
// database, never a mix or an error.
func TestWatchConcurrentLookups(t *testing.T) {
	l, city, _, events := watched(t, "GeoIP2-City-Test.mmdb", "")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				var g schemas.Geo
				if err := l.Lookup(netip.MustParseAddr("81.2.69.160"), &g); err != nil {
					t.Errorf("lookup during swaps: %v", err)
				}
				if g.City != "London" && (g.City != "" || g.CountryCode != "GB") {
					t.Errorf("mixed or empty answer %+v", g)
				}
				lookups.Add(1)
			}
		})
	}
	for i := range 6 {
		src := "GeoIP2-Country-Test.mmdb"
		if i%2 == 1 {
			src = "GeoIP2-City-Test.mmdb"
		}
		replaceFile(t, testDB(t, src), city)
		require.NoError(t, nextEvent(t, events).Err)
	}
	stop.Store(true)
	wg.Wait()
	require.Positive(t, lookups.Load())
}
