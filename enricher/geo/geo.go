package geo

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/sillage/sillage/schemas"
)

// Locator answers location lookups. The zero value (no databases) answers
// nothing; see Enabled.
type Locator struct {
	city *geoip2.Reader
	asn  *geoip2.Reader
}

// Open opens the city (or country) database at cityPath and the ASN database
// at asnPath; an empty path leaves that lookup off.
func Open(cityPath, asnPath string) (*Locator, error) {
	l := &Locator{}
	var err error
	if cityPath != "" {
		if l.city, err = open(cityPath, "city", func(r *geoip2.Reader) error {
			_, err := r.City(netip.IPv4Unspecified())
			return err
		}); err != nil {
			return nil, err
		}
	}
	if asnPath != "" {
		if l.asn, err = open(asnPath, "ASN", func(r *geoip2.Reader) error {
			_, err := r.ASN(netip.IPv4Unspecified())
			return err
		}); err != nil {
			return nil, errors.Join(err, l.Close())
		}
	}
	return l, nil
}

// open verifies the file and checks that probe, a lookup of the kind the
// caller will make, is supported by the database type.
func open(path, what string, probe func(*geoip2.Reader) error) (*geoip2.Reader, error) {
	raw, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s database %s: %w", what, path, err)
	}
	dbType := raw.Metadata.DatabaseType
	verr := raw.Verify()
	cerr := raw.Close()
	if verr != nil {
		return nil, fmt.Errorf("verifying %s database %s (type %q): %w", what, path, dbType, verr)
	}
	if cerr != nil {
		return nil, fmt.Errorf("closing %s database %s after verification: %w", what, path, cerr)
	}
	r, err := geoip2.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s database %s (type %q): %w", what, path, dbType, err)
	}
	var invalid geoip2.InvalidMethodError
	if err := probe(r); errors.As(err, &invalid) {
		_ = r.Close()
		return nil, fmt.Errorf("%s database %s is of type %q, which cannot answer %s lookups", what, path, dbType, what)
	}
	return r, nil
}

// Enabled reports whether any database is open.
func (l *Locator) Enabled() bool { return l != nil && (l.city != nil || l.asn != nil) }

// Describe says which databases are open, for the startup log.
func (l *Locator) Describe() (city, asn string) {
	if l == nil {
		return "", ""
	}
	if l.city != nil {
		m := l.city.Metadata()
		city = fmt.Sprintf("%s (built %d)", m.DatabaseType, m.BuildEpoch)
	}
	if l.asn != nil {
		m := l.asn.Metadata()
		asn = fmt.Sprintf("%s (built %d)", m.DatabaseType, m.BuildEpoch)
	}
	return city, asn
}

// Lookable reports whether addr is worth looking up: a valid, public unicast
// address (IPv4-mapped IPv6 counts as IPv4).
func Lookable(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsValid() && addr.IsGlobalUnicast() && !addr.IsPrivate()
}

// Lookup fills g with what the databases know of addr. It returns an error
// only when a database failed to decode the record; the fields found before
// the failure are kept.
func (l *Locator) Lookup(addr netip.Addr, g *schemas.Geo) error {
	if !l.Enabled() {
		return nil
	}
	addr = addr.Unmap()
	if !Lookable(addr) {
		return nil
	}
	var errs []error
	if l.city != nil {
		c, err := l.city.City(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("city lookup: %w", err))
		}
		if c != nil {
			fromCity(c, g)
		}
	}
	if l.asn != nil {
		a, err := l.asn.ASN(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("ASN lookup: %w", err))
		}
		if a != nil {
			g.ASN = int64(a.AutonomousSystemNumber)
			g.ASOrg = a.AutonomousSystemOrganization
		}
	}
	return errors.Join(errs...)
}

func fromCity(c *geoip2.City, g *schemas.Geo) {
	g.CountryCode = c.Country.ISOCode
	g.Country = c.Country.Names.English
	if len(c.Subdivisions) > 0 {
		s := c.Subdivisions[0]
		g.Region = s.Names.English
		if g.Region == "" {
			g.Region = s.ISOCode
		}
	}
	g.City = c.City.Names.English
	g.PostalCode = c.Postal.Code
	if c.Location.Latitude != nil && c.Location.Longitude != nil {
		g.Latitude = *c.Location.Latitude
		g.Longitude = *c.Location.Longitude
	}
	g.TimeZone = c.Location.TimeZone
}

// Close closes the databases.
func (l *Locator) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	if l.city != nil {
		errs = append(errs, l.city.Close())
		l.city = nil
	}
	if l.asn != nil {
		errs = append(errs, l.asn.Close())
		l.asn = nil
	}
	return errors.Join(errs...)
}
