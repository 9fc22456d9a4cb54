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

type names struct {
	EN string `json:"en"`
}

// sourceRecord is the part of MaxMind's source JSON that Sillage keeps:
// the location of City/Country/Enterprise records, the ASN of ASN/ISP ones.
type sourceRecord struct {
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
	ASN   int64  `json:"autonomous_system_number"`
	ASOrg string `json:"autonomous_system_organization"`
}

func (r sourceRecord) wantCity() schemas.Geo {
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

func (r sourceRecord) wantASN() schemas.Geo { return schemas.Geo{ASN: r.ASN, ASOrg: r.ASOrg} }

type sourceNetwork struct {
	prefix netip.Prefix
	rec    sourceRecord
}

// loadSource reads MaxMind's source JSON: a list of {network: record}.
// IPv4 networks are written in the IPv4 subtree of the IPv6 tree
// ("::1.2.3.0/120", IPv4-compatible notation, not ::ffff:-mapped); they are
// returned as plain IPv4 prefixes.
func loadSource(tb testing.TB, name string) []sourceNetwork {
	tb.Helper()
	b, err := os.ReadFile(shareddata.Path(tb, filepath.Join("geoip/maxmind-test/source-data", name)))
	require.NoError(tb, err)
	var list []map[string]sourceRecord
	require.NoError(tb, json.Unmarshal(b, &list))
	var out []sourceNetwork
	for _, m := range list {
		for k, v := range m {
			p := netip.MustParsePrefix(k)
			if strings.HasPrefix(k, "::") && strings.Contains(k, ".") {
				a := p.Addr().As16()
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[12:])), p.Bits()-96)
			}
			out = append(out, sourceNetwork{p.Masked(), v})
		}
	}
	return out
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	start := 0
	if p.Addr().Is4() {
		start = 96
	}
	for bit := start + p.Bits(); bit < 128; bit++ {
		a[bit/8] |= 0x80 >> (bit % 8)
	}
	addr := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		addr = addr.Unmap()
	}
	return addr
}

// mostSpecific is the record of the longest network of nets containing
// addr: what the database must answer there when networks nest.
func mostSpecific(nets []sourceNetwork, addr netip.Addr) sourceRecord {
	best := -1
	var rec sourceRecord
	for _, n := range nets {
		if n.prefix.Bits() > best && n.prefix.Contains(addr) {
			best, rec = n.prefix.Bits(), n.rec
		}
	}
	return rec
}

// TestSourceJSONAccuracy checks every network of MaxMind's source JSON at
// its first and last address against the database built from it, for all
// the fields Sillage keeps. The database is asked directly, so that the
// networks Lookup refuses by policy (documentation ranges…) are checked
// too; for those, Lookup itself must answer nothing.
func TestSourceJSONAccuracy(t *testing.T) {
	tests := []struct {
		mmdb, json string
		role       string
	}{
		{"GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.json", RoleCity},
		{"GeoLite2-City-Test.mmdb", "GeoLite2-City-Test.json", RoleCity},
		{"GeoIP2-Country-Test.mmdb", "GeoIP2-Country-Test.json", RoleCity},
		{"GeoLite2-Country-Test.mmdb", "GeoLite2-Country-Test.json", RoleCity},
		{"GeoIP2-Enterprise-Test.mmdb", "GeoIP2-Enterprise-Test.json", RoleCity},
		{"GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.json", RoleASN},
		{"GeoIP2-ISP-Test.mmdb", "GeoIP2-ISP-Test.json", RoleASN},
	}
	for _, tt := range tests {
		t.Run(tt.mmdb, func(t *testing.T) {
			o := Options{CityPath: testDB(t, tt.mmdb)}
			if tt.role == RoleASN {
				o = Options{ASNPath: testDB(t, tt.mmdb)}
			}
			l, err := OpenWith(o)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, l.Close()) })
			d := l.city.load()
			if tt.role == RoleASN {
				d = l.asn.load()
			}
			nets := loadSource(t, tt.json)
			passed, policy, nonEmpty := 0, 0, 0
			for _, n := range nets {
				ok := true
				for _, addr := range []netip.Addr{n.prefix.Addr(), lastAddr(n.prefix)} {
					var got, want schemas.Geo
					rec := mostSpecific(nets, addr)
					if tt.role == RoleASN {
						require.NoError(t, d.lookupASN(addr, &got), "%s in %s", addr, n.prefix)
						want = rec.wantASN()
					} else {
						require.NoError(t, d.lookupCity(addr, &got), "%s in %s", addr, n.prefix)
						want = rec.wantCity()
					}
					if want != (schemas.Geo{}) {
						nonEmpty++
					}
					ok = ok && assertGeo(t, want, got, "%s in network %s", addr, n.prefix)

					var viaLookup schemas.Geo
					require.NoError(t, l.Lookup(addr, &viaLookup))
					if Lookable(addr) {
						require.Equal(t, got, viaLookup, "Lookup of %s", addr)
					} else {
						require.Equal(t, schemas.Geo{}, viaLookup, "Lookup of %s (not lookable)", addr)
					}
				}
				if ok {
					passed++
				}
				if !Lookable(n.prefix.Addr()) {
					policy++
				}
			}
			t.Logf("%s: %d of %d networks answer as the JSON says (first and last address, %d non-empty answers); %d of them are in ranges Lookup does not look up",
				tt.mmdb, passed, len(nets), nonEmpty, policy)
			require.Equal(t, len(nets), passed)
			require.Positive(t, nonEmpty, "the JSON gives answers, not only empty records")
		})
	}
}

func assertGeo(t *testing.T, want, got schemas.Geo, msg string, args ...any) bool {
	t.Helper()
	if want == got {
		return true
	}
	t.Errorf(msg+":\n want %+v\n  got %+v", append(args, want, got)...)
	return false
}
