// Package geo looks up the location (and optionally the autonomous system)
// of an IP address in MaxMind-format databases: GeoIP2/GeoLite2 City,
// Country, Enterprise, ASN and ISP through geoip2-golang, and the flat
// layout of DB-IP Lite as repackaged by ip-location-db ({"country_code":
// "GB"}, database_type "country ipvAll") through maxminddb, its country
// name filled in English from CountryName.
//
// Loading: a database is read whole into memory, gunzipped first when the
// file starts with gzip's magic bytes (so the .mmdb.gz the DB-IP package
// ships is opened as is; at most 2 GiB inflated). Memory rather than mmap
// so that a file rewritten in place can never fault a lookup, and so that a
// replaced database needs no Close: lookups still using it finish, then
// the garbage collector frees it. The layout is chosen from the metadata's
// database_type (a type geoip2-golang knows is GeoIP2, another one is flat
// if its records carry a country_code) or forced by Options.CityLayout.
//
// Guarantees: OpenWith refuses, with an error naming the file, its
// database_type and the problem, a database that does not exist, does not
// inflate, does not pass MaxMind's own verifier (maxminddb Verify: metadata,
// search tree, data section; an empty metadata description, as in the
// ip-location-db files, is tolerated), or is of a type that cannot answer
// the question asked of it (an ASN database given as the city database, a
// flat DB-IP database given as ASN, a GeoIP2 database forced flat…).
// Lookup never panics: an IPv4-mapped IPv6 address is looked up as IPv4; an
// address Lookable refuses (private, loopback, link-local, carrier-grade
// NAT, documentation, benchmarking, reserved, multicast) is not looked up;
// an address the database does not know gives an empty location; a
// decoding error on one record is returned to the caller, who counts it and
// lets the event pass without geo. Lookups are safe for concurrent use.
//
// Reloading: Watch polls the files and, when one changed (size, mtime or
// identity, so an atomic rename counts) and then stayed the same for one
// more poll, loads it with the same checks as OpenWith and swaps it in
// atomically. A missing or refused file leaves the previous database in
// use and is reported through the Event callback (once per change), which
// is where the caller counts reloads and failures.
//
// Accuracy: every network of MaxMind's test databases' source JSON (City,
// Country, Enterprise, ASN, ISP: 3,945 networks) answers as the JSON says
// at its first and last address (TestSourceJSONAccuracy).
package geo
