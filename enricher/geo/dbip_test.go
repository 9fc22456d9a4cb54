package geo

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/schemas"
)

func dbipPath(tb testing.TB) string {
	tb.Helper()
	return shareddata.Path(tb, "geoip/dbip-country-lite/dbip-country.mmdb.gz")
}

func TestDBIPCountry(t *testing.T) {
	for _, layout := range []Layout{LayoutAuto, LayoutFlat} {
		t.Run("layout="+string(layout), func(t *testing.T) {
			l, err := OpenWith(Options{CityPath: dbipPath(t), CityLayout: layout})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, l.Close()) })
			city, asn := l.Describe()
			require.Contains(t, city, `country ipvAll flat layout (built 2026-06-01)`)
			require.Empty(t, asn)

			tests := []struct{ ip, code, name string }{
				{"193.0.6.139", "NL", "Netherlands"}, // RIPE NCC, Amsterdam
				{"::ffff:193.0.6.139", "NL", "Netherlands"},
				{"2001:67c:2e8:22::c100:68b", "NL", "Netherlands"},
				{"81.2.69.160", "GB", "United Kingdom"},
				{"8.8.8.8", "US", "United States"},
				{"2a00:1450:4001:80b::200e", "DE", "Germany"},
				{"10.0.0.1", "", ""}, // private: not looked up
				{"100.64.0.1", "", ""},
			}
			for _, tt := range tests {
				var g schemas.Geo
				require.NoError(t, l.Lookup(netip.MustParseAddr(tt.ip), &g), tt.ip)
				require.Equal(t, schemas.Geo{CountryCode: tt.code, Country: tt.name}, g, tt.ip)
			}
		})
	}
}

// TestCountryNamesCoverDBIP: every network of DB-IP Lite decodes in the
// flat layout and has a country code with a name.
func TestCountryNamesCoverDBIP(t *testing.T) {
	if testing.Short() {
		t.Skip("walks 1.4 million networks")
	}
	l, err := Open(dbipPath(t), "")
	require.NoError(t, err)
	d := l.city.load()
	codes := map[string]int{}
	n := 0
	for res := range d.mm.Networks() {
		var rec flatRecord
		require.NoError(t, res.Decode(&rec), res.Prefix())
		codes[rec.CountryCode]++
		n++
	}
	for code := range codes {
		require.NotEmpty(t, CountryName(code), "country code %q of DB-IP has no name", code)
	}
	t.Logf("%d networks, %d country codes, all named", n, len(codes))
	require.Greater(t, n, 1_000_000)
}

// TestCountryNamesAgreeWithMaxMind: the names given to the flat layout's
// codes are those MaxMind's databases give, except where MaxMind's (fake,
// older) test data uses a long or former form.
func TestCountryNamesAgreeWithMaxMind(t *testing.T) {
	formerInTestData := map[string]bool{
		"Czech Republic":              true, // Czechia
		"Hashemite Kingdom of Jordan": true, // Jordan
		"People's Republic of China":  true, // China
	}
	checked := map[string]bool{}
	for _, f := range []string{"GeoIP2-City-Test.json", "GeoLite2-City-Test.json", "GeoIP2-Country-Test.json", "GeoLite2-Country-Test.json", "GeoIP2-Enterprise-Test.json"} {
		for _, n := range loadSource(t, f) {
			c := n.rec.Country
			if c.ISOCode == "" || c.Names.EN == "" || formerInTestData[c.Names.EN] {
				continue
			}
			require.Equal(t, c.Names.EN, CountryName(c.ISOCode), "%s in %s", c.ISOCode, f)
			checked[c.ISOCode] = true
		}
	}
	require.Greater(t, len(checked), 20)
}

func BenchmarkLookupDBIP(b *testing.B) {
	l, err := Open(dbipPath(b), "")
	require.NoError(b, err)
	for _, ip := range []string{"193.0.6.139", "2a00:1450:4001:80b::200e"} {
		addr := netip.MustParseAddr(ip)
		b.Run(ip, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var g schemas.Geo
				_ = l.Lookup(addr, &g)
			}
		})
	}
}
