package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/sillage/sillage/schemas"
)

// Options says which databases a Locator opens.
type Options struct {
	// CityPath is a city or country database: GeoIP2/GeoLite2 City,
	// Country or Enterprise, db-ip.com's GeoIP2-compatible files, or a flat
	// layout (DB-IP Lite from ip-location-db). Plain .mmdb or gzipped
	// (.mmdb.gz, recognised by its magic bytes). Empty: no location.
	CityPath string
	// CityLayout forces the layout of CityPath; LayoutAuto decides from
	// the database's metadata.
	CityLayout Layout
	// ASNPath is a GeoLite2/GeoIP2 ASN (or ISP) database, plain or
	// gzipped. Empty: no ASN.
	ASNPath string
}

// Locator answers location lookups. The zero value (no databases) answers
// nothing; see Enabled. Lookups are safe for concurrent use with each other
// and with Watch.
type Locator struct {
	city *slot
	asn  *slot
}

// slot is where one role's current database lives; Watch swaps it.
type slot struct {
	role   string
	path   string
	layout Layout
	cur    atomic.Pointer[database]
}

// Open opens the city (or country) database at cityPath and the ASN database
// at asnPath with automatic layout; an empty path leaves that lookup off.
func Open(cityPath, asnPath string) (*Locator, error) {
	return OpenWith(Options{CityPath: cityPath, ASNPath: asnPath})
}

// OpenWith opens the databases o names, refusing a missing, broken or
// wrong-type one with an error naming the file, its type and the problem.
func OpenWith(o Options) (*Locator, error) {
	l := &Locator{}
	for _, s := range []struct {
		dst        **slot
		role, path string
		layout     Layout
	}{
		{&l.city, RoleCity, o.CityPath, o.CityLayout},
		{&l.asn, RoleASN, o.ASNPath, LayoutAuto},
	} {
		if s.path == "" {
			continue
		}
		d, err := load(s.path, s.role, s.layout)
		if err != nil {
			return nil, err
		}
		sl := &slot{role: s.role, path: s.path, layout: s.layout}
		sl.cur.Store(d)
		*s.dst = sl
	}
	return l, nil
}

func (s *slot) load() *database {
	if s == nil {
		return nil
	}
	return s.cur.Load()
}

// Enabled reports whether any database is open.
func (l *Locator) Enabled() bool {
	return l != nil && (l.city.load() != nil || l.asn.load() != nil)
}

// Describe says which databases are in use (type, layout, build date), for
// the startup log; empty for a lookup that is off.
func (l *Locator) Describe() (city, asn string) {
	if l == nil {
		return "", ""
	}
	if d := l.city.load(); d != nil {
		city = d.describe()
	}
	if d := l.asn.load(); d != nil {
		asn = d.describe()
	}
	return city, asn
}

// Lookup fills g with what the databases know of addr. An IPv4-mapped IPv6
// address is looked up as IPv4; an address Lookable refuses is not looked
// up at all. It returns an error only when a database failed to decode the
// record; the fields found before the failure are kept.
func (l *Locator) Lookup(addr netip.Addr, g *schemas.Geo) error {
	if l == nil {
		return nil
	}
	city, asn := l.city.load(), l.asn.load()
	if city == nil && asn == nil {
		return nil
	}
	addr = addr.Unmap()
	if !Lookable(addr) {
		return nil
	}
	var errs []error
	if city != nil {
		if err := city.lookupCity(addr, g); err != nil {
			errs = append(errs, fmt.Errorf("city lookup: %w", err))
		}
	}
	if asn != nil {
		if err := asn.lookupASN(addr, g); err != nil {
			errs = append(errs, fmt.Errorf("ASN lookup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close releases the databases; lookups after Close answer nothing, and
// Watch stops swapping. The databases live in memory, so a lookup running
// during Close finishes safely.
func (l *Locator) Close() error {
	if l == nil {
		return nil
	}
	for _, s := range []*slot{l.city, l.asn} {
		if s != nil {
			s.cur.Store(nil)
		}
	}
	return nil
}
