package geo

import (
	"bytes"
	"compress/gzip"
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

	notLooked := []string{
		"10.1.2.3", "172.16.0.1", "192.168.0.1", "fd00::1", // private
		"127.0.0.1", "::1", "169.254.1.1", "fe80::1", // loopback, link-local
		"0.0.0.0", "::", "0.1.2.3", // unspecified, "this network"
		"224.0.0.1", "ff02::1", "255.255.255.255", "240.1.2.3", // multicast, broadcast, reserved
		"100.64.0.1", "100.127.255.254", // carrier-grade NAT
		"192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1", "3fff::1", // documentation
		"198.18.0.1", "2001:2::1", "192.0.0.8", "100::1", "64:ff9b:1::1", // benchmarking, IETF, discard, local NAT64
		"::ffff:10.1.2.3", "::ffff:100.64.0.1", "::ffff:127.0.0.1", // the same, IPv4-mapped
	}
	for _, ip := range notLooked {
		addr := netip.MustParseAddr(ip)
		require.False(t, Lookable(addr), ip)
		var none schemas.Geo
		require.NoError(t, l.Lookup(addr, &none))
		require.Equal(t, schemas.Geo{}, none, ip)
	}
	for _, ip := range []string{"81.2.69.160", "::ffff:81.2.69.160", "100.128.0.1", "2a02:cf40::1", "8.8.8.8"} {
		require.True(t, Lookable(netip.MustParseAddr(ip)), ip)
	}
	var unknown schemas.Geo
	require.NoError(t, l.Lookup(netip.MustParseAddr("8.8.8.8"), &unknown))
	require.Equal(t, schemas.Geo{}, unknown, "an address the database does not know")
	require.NoError(t, l.Lookup(netip.Addr{}, &unknown))
	require.Equal(t, schemas.Geo{}, unknown)
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
	dbip := dbipPath(t)
	dir := t.TempDir()
	gzCity := gzipFile(t, testDB(t, "GeoIP2-City-Test.mmdb"), filepath.Join(dir, "city.mmdb.gz"))
	truncatedGz := filepath.Join(dir, "truncated.mmdb.gz")
	b, err := os.ReadFile(gzCity)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncatedGz, b[:len(b)/2], 0o600))
	empty := filepath.Join(dir, "empty.mmdb")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{"missing file", Options{CityPath: "/nonexistent/GeoIP2-City.mmdb"}, []string{"opening city database /nonexistent/GeoIP2-City.mmdb"}},
		{"not an mmdb", Options{CityPath: "geo_test.go"}, []string{"opening city database geo_test.go"}},
		{"empty file", Options{CityPath: empty}, []string{"opening city database " + empty}},
		{"directory", Options{CityPath: dir}, []string{"opening city database " + dir, "not a regular file"}},
		{"truncated gzip", Options{CityPath: truncatedGz}, []string{"opening city database " + truncatedGz, "unexpected EOF"}},
		{"invalid node count", Options{CityPath: testDB(t, "GeoIP2-City-Test-Invalid-Node-Count.mmdb")}, []string{"invalid metadata"}},
		{"broken data section", Options{CityPath: testDB(t, "GeoIP2-City-Test-Broken-Double-Format.mmdb")}, []string{"verifying city database", "bad data"}},
		{"broken search tree", Options{CityPath: testDB(t, "MaxMind-DB-test-broken-search-tree-24.mmdb")}, []string{"verifying city database", "search tree"}},
		{"broken pointers", Options{CityPath: testDB(t, "MaxMind-DB-test-broken-pointers-24.mmdb")}, []string{"verifying city database"}},
		{"ASN database as city", Options{CityPath: testDB(t, "GeoLite2-ASN-Test.mmdb")}, []string{`GeoLite2-ASN-Test.mmdb is of type "GeoLite2-ASN", which cannot answer city lookups`}},
		{"city database as ASN", Options{ASNPath: testDB(t, "GeoIP2-City-Test.mmdb")}, []string{`GeoIP2-City-Test.mmdb is of type "GeoIP2-City", which cannot answer ASN lookups`}},
		{"DB-IP flat database as ASN", Options{ASNPath: dbip}, []string{"ASN database " + dbip + ` is of type "country ipvAll", which cannot answer ASN lookups`}},
		{"anonymous-IP database as city", Options{CityPath: testDB(t, "GeoIP2-Anonymous-IP-Test.mmdb")}, []string{`type "GeoIP2-Anonymous-IP", which cannot answer city lookups`}},
		{"unsupported type", Options{CityPath: testDB(t, "MaxMind-DB-test-decoder.mmdb")}, []string{`does not support the "MaxMind DB Decoder Test" database type`, "not in the flat layout"}},
		{"GeoIP2 city forced flat", Options{CityPath: testDB(t, "GeoIP2-City-Test.mmdb"), CityLayout: LayoutFlat}, []string{`(type "GeoIP2-City")`, "is not in the flat layout", "cannot unmarshal map into type string"}},
		{"DB-IP forced GeoIP2", Options{CityPath: dbip, CityLayout: LayoutGeoIP2}, []string{"given as GeoIP2 layout", `does not support the "country ipvAll" database type`}},
		{"unknown layout", Options{CityPath: testDB(t, "GeoIP2-City-Test.mmdb"), CityLayout: "csv"}, []string{`unknown layout "csv"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := OpenWith(tt.opts)
			require.Error(t, err)
			require.Nil(t, l)
			for _, w := range tt.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestOpenGzipped: a gzipped database answers as the plain one.
func TestOpenGzipped(t *testing.T) {
	for _, name := range []string{"GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"} {
		t.Run(name, func(t *testing.T) {
			gz := gzipFile(t, testDB(t, name), filepath.Join(t.TempDir(), name+".gz"))
			role := RoleCity
			plain, err := Open(testDB(t, name), "")
			zipped, zerr := Open(gz, "")
			if name == "GeoLite2-ASN-Test.mmdb" {
				role = RoleASN
				plain, err = Open("", testDB(t, name))
				zipped, zerr = Open("", gz)
			}
			require.NoError(t, err)
			require.NoError(t, zerr)
			for _, n := range loadSource(t, strings.TrimSuffix(name, ".mmdb")+".json") {
				var a, b schemas.Geo
				require.NoError(t, plain.Lookup(n.prefix.Addr(), &a))
				require.NoError(t, zipped.Lookup(n.prefix.Addr(), &b))
				require.Equal(t, a, b, "%s %s", role, n.prefix)
			}
		})
	}
}

func gzipFile(tb testing.TB, src, dst string) string {
	tb.Helper()
	b, err := os.ReadFile(src)
	require.NoError(tb, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(b)
	require.NoError(tb, err)
	require.NoError(tb, zw.Close())
	require.NoError(tb, os.WriteFile(dst, buf.Bytes(), 0o600))
	return dst
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

func BenchmarkLookupPolicy(b *testing.B) {
	l, err := Open(testDB(b, "GeoIP2-City-Test.mmdb"), testDB(b, "GeoLite2-ASN-Test.mmdb"))
	require.NoError(b, err)
	defer l.Close()
	for _, ip := range []string{"10.1.2.3", "::ffff:81.2.69.160", "2a02:cf40::1"} {
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
