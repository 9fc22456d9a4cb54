package geo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/sillage/sillage/schemas"
)

// Layout says how a database's records are laid out.
type Layout string

const (
	// LayoutAuto decides from the database's metadata: a database_type
	// geoip2-golang knows (GeoIP2/GeoLite2 City, Country, Enterprise, ASN,
	// ISP, db-ip.com's own GeoIP2-compatible files) is read as GeoIP2; any
	// other type is read as flat if its records carry a country_code.
	LayoutAuto Layout = ""
	// LayoutGeoIP2 is MaxMind's nested layout (country.iso_code,
	// city.names.en…), read through geoip2-golang.
	LayoutGeoIP2 Layout = "geoip2"
	// LayoutFlat is the flat layout of the ip-location-db repackagings of
	// DB-IP Lite, GeoLite2 and others (database_type "country ipvAll"…):
	// {"country_code": "GB"} for country databases, plus state1, city,
	// postcode, latitude, longitude and timezone for city ones.
	LayoutFlat Layout = "flat"
)

// maxDatabaseBytes bounds what a (possibly gzipped) database may inflate to:
// the largest real databases are a few hundred MB; more is a gzip bomb or
// the wrong file.
const maxDatabaseBytes = 2 << 30

// Roles of a database in a Locator, as named in errors and events.
const (
	RoleCity = "city"
	RoleASN  = "ASN"
)

// database is one loaded, verified database file. It is immutable and lives
// in memory (read, or gunzipped, from the file), so a lookup holding it
// stays valid whatever happens to the file or to the Locator's current
// database; the garbage collector frees it when no lookup uses it.
type database struct {
	path   string
	role   string
	layout Layout
	dbType string
	built  time.Time
	stamp  os.FileInfo // the file as it was read: what the watcher compares

	g  *geoip2.Reader    // LayoutGeoIP2
	mm *maxminddb.Reader // LayoutFlat
}

// load reads, verifies and type-checks the database at path for role.
func load(path, role string, layout Layout) (*database, error) {
	data, stamp, err := readDatabase(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s database %s: %w", role, path, err)
	}
	raw, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("opening %s database %s: %w", role, path, err)
	}
	d := &database{path: path, role: role, dbType: raw.Metadata.DatabaseType, built: raw.Metadata.BuildTime(), stamp: stamp}
	if len(raw.Metadata.Description) == 0 {
		// The verifier wants a description; the ip-location-db files
		// (DB-IP Lite…) have none, which harms no lookup. Everything else
		// it checks (metadata encoding, search tree, data section) applies.
		raw.Metadata.Description = map[string]string{"en": "(none)"}
	}
	if err := raw.Verify(); err != nil {
		return nil, fmt.Errorf("verifying %s database %s (type %q): %w", role, path, d.dbType, err)
	}
	g, gerr := geoip2.OpenBytes(data)
	var unknown geoip2.UnknownDatabaseTypeError
	if gerr != nil && !errors.As(gerr, &unknown) {
		return nil, fmt.Errorf("opening %s database %s (type %q): %w", role, path, d.dbType, gerr)
	}
	switch {
	case role == RoleASN && layout == LayoutFlat:
		return nil, fmt.Errorf("%s database %s: the flat layout is read for city and country databases only", role, path)
	case role == RoleASN && gerr != nil:
		return nil, fmt.Errorf("%s database %s is of type %q, which cannot answer %s lookups (%w)", role, path, d.dbType, role, gerr)
	case layout == LayoutFlat || (layout == LayoutAuto && gerr != nil):
		if err := checkFlat(raw); err != nil {
			if gerr != nil && layout == LayoutAuto {
				err = fmt.Errorf("%w, and %w", gerr, err)
			}
			return nil, fmt.Errorf("%s database %s (type %q): %w", role, path, d.dbType, err)
		}
		d.layout, d.mm = LayoutFlat, raw
	case layout == LayoutGeoIP2 || layout == LayoutAuto:
		if gerr != nil {
			return nil, fmt.Errorf("%s database %s given as GeoIP2 layout: %w", role, path, gerr)
		}
		var perr error
		if role == RoleCity {
			_, perr = g.City(netip.IPv4Unspecified())
		} else {
			_, perr = g.ASN(netip.IPv4Unspecified())
		}
		var invalid geoip2.InvalidMethodError
		if errors.As(perr, &invalid) {
			return nil, fmt.Errorf("%s database %s is of type %q, which cannot answer %s lookups", role, path, d.dbType, role)
		}
		d.layout, d.g = LayoutGeoIP2, g
	default:
		return nil, fmt.Errorf("%s database %s: unknown layout %q (want %q, %q or empty for automatic)", role, path, layout, LayoutGeoIP2, LayoutFlat)
	}
	return d, nil
}

// readDatabase reads the whole file into memory, gunzipping it when it
// starts with gzip's magic bytes (whatever its name), and returns the
// file's identity as it was read.
func readDatabase(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("not a regular file (%s)", fi.Mode())
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	size := fi.Size()
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gunzipping: %w", err)
		}
		r, size = zr, 4*size
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, maxDatabaseBytes)) + bytes.MinRead)
	n, err := buf.ReadFrom(io.LimitReader(r, maxDatabaseBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	if n > maxDatabaseBytes {
		return nil, nil, fmt.Errorf("larger than %d bytes", maxDatabaseBytes)
	}
	return buf.Bytes(), fi, nil
}

// flatRecord is a record of the flat layout. City databases have all
// fields, country ones only country_code.
type flatRecord struct {
	CountryCode string  `maxminddb:"country_code"`
	State1      string  `maxminddb:"state1"`
	City        string  `maxminddb:"city"`
	Postcode    string  `maxminddb:"postcode"`
	Latitude    float64 `maxminddb:"latitude"`
	Longitude   float64 `maxminddb:"longitude"`
	Timezone    string  `maxminddb:"timezone"`
}

// flatSample is how many records checkFlat decodes.
const flatSample = 64

// checkFlat decodes the first records of the database as flatRecord: they
// must decode (the field types are right) and carry a country_code.
func checkFlat(r *maxminddb.Reader) error {
	n, withCC := 0, 0
	for res := range r.Networks() {
		var rec flatRecord
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("record of %s is not in the flat layout: %w", res.Prefix(), err)
		}
		if len(rec.CountryCode) == 2 {
			withCC++
		}
		if n++; n == flatSample {
			break
		}
	}
	if withCC == 0 {
		return errors.New("its records are not in the flat layout (no country_code)")
	}
	return nil
}

// lookupCity fills g's location fields from d, whatever the address.
func (d *database) lookupCity(addr netip.Addr, g *schemas.Geo) error {
	if d.g != nil {
		c, err := d.g.City(addr)
		if c != nil {
			fromCity(c, g)
		}
		return err
	}
	var rec flatRecord
	if err := d.mm.Lookup(addr).Decode(&rec); err != nil {
		return err
	}
	g.CountryCode = rec.CountryCode
	g.Country = CountryName(rec.CountryCode)
	g.Region, g.City, g.PostalCode, g.TimeZone = rec.State1, rec.City, rec.Postcode, rec.Timezone
	g.Latitude, g.Longitude = rec.Latitude, rec.Longitude
	return nil
}

// lookupASN fills g's ASN fields from d, whatever the address.
func (d *database) lookupASN(addr netip.Addr, g *schemas.Geo) error {
	a, err := d.g.ASN(addr)
	if a != nil {
		g.ASN = int64(a.AutonomousSystemNumber)
		g.ASOrg = a.AutonomousSystemOrganization
	}
	return err
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

// describe names the database for logs.
func (d *database) describe() string {
	return fmt.Sprintf("%s %s layout (built %s)", d.dbType, d.layout, d.built.UTC().Format(time.DateOnly))
}
