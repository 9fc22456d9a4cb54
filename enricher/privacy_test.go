package enricher

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestTruncateIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"81.2.69.160", "81.2.69.0"},
		{"10.0.0.255", "10.0.0.0"},
		{"::ffff:81.2.69.160", "81.2.69.0"},
		{"2001:db8:abcd:1234:5678::1", "2001:db8:abcd::"},
		{"2a02:d3c0:1:2:3:4:5:6", "2a02:d3c0:1::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, TruncateIP(netip.MustParseAddr(tt.in)).String(), tt.in)
	}
	require.False(t, TruncateIP(netip.Addr{}).IsValid())
}

func TestEnforceIP(t *testing.T) {
	tests := []struct {
		name        string
		ip          string
		analytics   bool
		wantIP      string
		wantLookup  string
		wantInvalid bool
	}{
		{"consent keeps the address", "81.2.69.160", true, "81.2.69.160", "81.2.69.160", false},
		{"no consent truncates before lookup", "81.2.69.160", false, "81.2.69.0", "81.2.69.0", false},
		{"no consent, IPv6", "2a02:d3c0:1:2::9", false, "2a02:d3c0:1::", "2a02:d3c0:1::", false},
		{"no IP", "", false, "", "", false},
		{"garbage without consent is dropped", "not-an-ip", false, "", "", true},
		{"garbage with consent is kept as sent", "not-an-ip", true, "not-an-ip", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := &schemas.RawEvent{IP: tt.ip, Consent: schemas.Consent{Necessary: true, Analytics: tt.analytics}}
			lookup, invalid := enforceIP(raw)
			require.Equal(t, tt.wantIP, raw.IP)
			require.Equal(t, tt.wantInvalid, invalid)
			if tt.wantLookup == "" {
				require.False(t, lookup.IsValid())
			} else {
				require.Equal(t, tt.wantLookup, lookup.String())
			}
		})
	}
}
