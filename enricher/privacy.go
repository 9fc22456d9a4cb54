package enricher

import (
	"net/netip"

	"github.com/sillage/sillage/schemas"
)

// Truncation of the client IP without analytics consent: the last octet of
// an IPv4 address, the last 80 bits of an IPv6 address (what Google
// Analytics and Matomo do: enough for country and often city, no longer one
// subscriber).
const (
	truncateV4Bits = 24
	truncateV6Bits = 48
)

// TruncateIP zeroes the host part of addr (IPv4-mapped IPv6 is treated as
// IPv4). The zero Addr stays zero.
func TruncateIP(addr netip.Addr) netip.Addr {
	if !addr.IsValid() {
		return addr
	}
	addr = addr.Unmap().WithZone("")
	bits := truncateV6Bits
	if addr.Is4() {
		bits = truncateV4Bits
	}
	p, err := addr.Prefix(bits)
	if err != nil { // unreachable: bits is within the address length
		return netip.Addr{}
	}
	return p.Addr()
}

// enforceIP applies the consent rule for the client IP, BEFORE any lookup:
// with analytics consent the address is kept; without it only the truncated
// address is kept, and an address that does not parse is dropped (it cannot
// be truncated, so fail closed). It returns the address to look up (invalid
// when none) and whether the IP string did not parse.
func enforceIP(raw *schemas.RawEvent) (lookup netip.Addr, invalid bool) {
	if raw.IP == "" {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(raw.IP)
	if err != nil {
		if !raw.Consent.Analytics {
			raw.IP = ""
		}
		return netip.Addr{}, true
	}
	if raw.Consent.Analytics {
		return addr, false
	}
	addr = TruncateIP(addr)
	raw.IP = addr.String()
	return addr, false
}
