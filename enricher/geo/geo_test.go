package geo

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/schemas"
)

func testDB(tb testing.TB, name string) string {
	tb.Helper()
	return shareddata.Path(tb, filepath.Join("geoip/maxmind-test/test-data", name))
}

type names struct {
	EN string `json:"en"`
}

// cityRecord is the part of MaxMind's source JSON that Sillage keeps.
type cityRecord struct {
	Country struct {
		ISOCode string `json:"iso_code"`
		Names   names  `json:"names"`
	} `json:"country"`
	City struct {
		Names names `json:"names"`
	} `json:"city"`
	Subdivisions []struct {
		ISOCode string `json:"iso_code"`
		Names   names  `json:"names"`
	} `json:"subdivisions"`
	Postal struct {
		Code string `json:"code"`
	} `json:"postal"`
	Location struct {
		Latitude  *float64 `json:"latitude"`
		Longitude *float64 `json:"longitude"`
		TimeZone  string   `json:"time_zone"`
	} `json:"location"`
}

func (r cityRecord) want() schemas.Geo {
	g := schemas.Geo{
		CountryCode: r.Country.ISOCode,
		Country:     r.Country.Names.EN,
		City:        r.City.Names.EN,
		PostalCode:  r.Postal.Code,
		TimeZone:    r.Location.TimeZone,
	}
	if len(r.Subdivisions) > 0 {
		g.Region = r.Subdivisions[0].Names.EN
		if g.Region == "" {
			g.Region = r.Subdivisions[0].ISOCode
		}
	}
	if r.Location.Latitude != nil && r.Location.Longitude != nil {
		g.Latitude, g.Longitude = *r.Location.Latitude, *r.Location.Longitude
	}
	return g
}

// loadSource reads MaxMind's source JSON: a list of {network: record}.
// IPv4 networks are written IPv4-mapped ("::1.2.3.0/120"); they are
// returned as plain IPv4 prefixes.
func loadSource[T any](tb testing.TB, name string) map[netip.Prefix]T {
	tb.Helper()
	b, err := os.ReadFile(shareddata.Path(tb, filepath.Join("geoip/maxmind-test/source-data", name)))
	require.NoError(tb, err)
	var list []map[string]T
	require.NoError(tb, json.Unmarshal(b, &list))
	out := map[netip.Prefix]T{}
	for _, m := range list {
		for k, v := range m {
			p := netip.MustParsePrefix(k)
			if strings.HasPrefix(k, "::") && strings.Contains(k, ".") {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out[p] = v
		}
	}
	return out
}

func TestCityMatchesSourceJSON(t *testing.T) {
	for _, db := range []struct{ mmdb, json string }{
		{"GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.json"},
		{"GeoLite2-City-Test.mmdb", "GeoLite2-City-Test.json"},
		{"GeoIP2-Country-Test.mmdb", "GeoIP2-Country-Test.json"},
	} {
		t.Run(db.mmdb, func(t *testing.T) {
			l, err := Open(testDB(t, db.mmdb), "")
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, l.Close()) })
			checked := 0
			for prefix, rec := range loadSource[cityRecord](t, db.json) {
				addr := prefix.Addr()
				if !Lookable(addr) {
					continue
				}
				var g schemas.Geo
				require.NoError(t, l.Lookup(addr, &g), "lookup of %s", prefix)
				require.Equal(t, rec.want(), g, "network %s", prefix)
				checked++
			}
			require.Greater(t, checked, 200)
			t.Logf("%d networks match", checked)
		})
	}
}

func TestASNMatchesSourceJSON(t *testing.T) {
	l, err := Open("", testDB(t, "GeoLite2-ASN-Test.mmdb"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	type asn struct {
		Number int64  `json:"autonomous_system_number"`
		Org    string `json:"autonomous_system_organization"`
	}
	checked := 0
	for prefix, rec := range loadSource[asn](t, "GeoLite2-ASN-Test.json") {
		if !Lookable(prefix.Addr()) {
			continue
		}
		var g schemas.Geo
		require.NoError(t, l.Lookup(prefix.Addr(), &g))
		require.Equal(t, schemas.Geo{ASN: rec.Number, ASOrg: rec.Org}, g, "network %s", prefix)
		checked++
	}
	require.Greater(t, checked, 500)
}

func TestLookupEdgeCases(t *testing.T) {
	l, err := Open(testDB(t, "GeoIP2-City-Test.mmdb"), testDB(t, "GeoLite2-ASN-Test.mmdb"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	var g schemas.Geo
	require.NoError(t, l.Lookup(netip.MustParseAddr("81.2.69.160"), &g))
	require.Equal(t, "GB", g.CountryCode)
	require.Equal(t, "London", g.City)

	var mapped schemas.Geo
	require.NoError(t, l.Lookup(netip.MustParseAddr("::ffff:81.2.69.160"), &mapped))
	require.Equal(t, g, mapped, "IPv4-mapped IPv6 is looked up as IPv4")

	for _, ip := range []string{"10.1.2.3", "192.168.0.1", "127.0.0.1", "::1", "fe80::1", "0.0.0.0", "fd00::1"} {
		var none schemas.Geo
		require.NoError(t, l.Lookup(netip.MustParseAddr(ip), &none))
		require.Equal(t, schemas.Geo{}, none, ip)
	}
	var unknown schemas.Geo
	require.NoError(t, l.Lookup(netip.MustParseAddr("203.0.113.9"), &unknown))
	require.Equal(t, schemas.Geo{}, unknown, "an address the database does not know")
	require.NoError(t, l.Lookup(netip.Addr{}, &unknown))
}

func TestNoDatabase(t *testing.T) {
	l, err := Open("", "")
	require.NoError(t, err)
	require.False(t, l.Enabled())
	var g schemas.Geo
	require.NoError(t, l.Lookup(netip.MustParseAddr("81.2.69.160"), &g))
	require.Equal(t, schemas.Geo{}, g)
	require.NoError(t, l.Close())
}

func TestOpenRefusesBadDatabases(t *testing.T) {
	tests := []struct {
		name      string
		city, asn string
		wantErr   []string
	}{
		{"missing file", "/nonexistent/GeoIP2-City.mmdb", "", []string{"opening city database /nonexistent/GeoIP2-City.mmdb"}},
		{"not an mmdb", "geo_test.go", "", []string{"opening city database geo_test.go"}},
		{"invalid node count", testDB(t, "GeoIP2-City-Test-Invalid-Node-Count.mmdb"), "", []string{"invalid metadata"}},
		{"broken data section", testDB(t, "GeoIP2-City-Test-Broken-Double-Format.mmdb"), "", []string{"verifying city database", "bad data"}},
		{"broken search tree", testDB(t, "MaxMind-DB-test-broken-search-tree-24.mmdb"), "", []string{"verifying city database", "search tree"}},
		{"ASN database as city", testDB(t, "GeoLite2-ASN-Test.mmdb"), "", []string{`type "GeoLite2-ASN", which cannot answer city lookups`}},
		{"city database as ASN", "", testDB(t, "GeoIP2-City-Test.mmdb"), []string{`type "GeoIP2-City", which cannot answer ASN lookups`}},
		{"unsupported type", testDB(t, "MaxMind-DB-test-decoder.mmdb"), "", []string{`does not support the "MaxMind DB Decoder Test" database type`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.city, tt.asn)
			require.Error(t, err)
			require.Nil(t, l)
			for _, w := range tt.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	l, err := Open(testDB(b, "GeoIP2-City-Test.mmdb"), testDB(b, "GeoLite2-ASN-Test.mmdb"))
	require.NoError(b, err)
	defer l.Close()
	addr := netip.MustParseAddr("81.2.69.160")
	b.ReportAllocs()
	for b.Loop() {
		var g schemas.Geo
		_ = l.Lookup(addr, &g)
	}
}
