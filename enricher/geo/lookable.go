package geo

import "net/netip"

// notRouted are special-purpose ranges (IANA IPv4 and IPv6 Special-Purpose
// Address Registries) that no geolocation database can place: shared
// carrier-grade NAT space, documentation, benchmarking, reserved, discard
// and local-use NAT64. The private (RFC 1918, ULA), loopback, link-local,
// multicast and unspecified ranges are refused by netip's own predicates.
var notRouted = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared address space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:2::/48"),     // benchmarking
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
}

// Lookable reports whether addr is worth looking up: a valid, public unicast
// address (IPv4-mapped IPv6 counts as IPv4) outside the private, loopback,
// link-local, carrier-grade NAT, documentation, benchmarking and reserved
// ranges.
func Lookable(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return false
	}
	for _, p := range notRouted {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}
