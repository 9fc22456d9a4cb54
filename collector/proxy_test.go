package collector

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientIPFromTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		xff     []string
		want    string
	}{
		{"no trusted proxy: the peer, whatever the header says", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"peer not trusted: the peer", []string{"10.0.0.0/8"}, []string{"203.0.113.7"}, "127.0.0.1"},
		{"trusted peer without header: the peer", []string{"127.0.0.0/8"}, nil, "127.0.0.1"},
		{"trusted peer: the hop it saw", []string{"127.0.0.1"}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"rightmost untrusted, client-written hops ignored", []string{"127.0.0.1", "10.0.0.0/8"},
			[]string{"1.1.1.1, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"several headers are one list", []string{"127.0.0.1", "10.0.0.0/8"},
			[]string{"198.51.100.1, 203.0.113.7", "10.0.0.5"}, "203.0.113.7"},
		{"every hop trusted: the leftmost", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"10.0.0.9, 10.0.0.5"}, "10.0.0.9"},
		{"garbage hop: the last good address", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"203.0.113.7, not-an-ip, 10.0.0.5"}, "10.0.0.5"},
		{"garbage only: the peer", []string{"127.0.0.1"}, []string{"unknown"}, "127.0.0.1"},
		{"ports and brackets", []string{"127.0.0.1"}, []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"IPv4 with port", []string{"127.0.0.1"}, []string{"203.0.113.7:8080"}, "203.0.113.7"},
		{"IPv4-mapped IPv6 is IPv4", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"203.0.113.7, ::ffff:10.0.0.1"}, "203.0.113.7"},
		{"empty hops", []string{"127.0.0.1"}, []string{" , 203.0.113.7"}, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.TrustedProxies = tt.trusted })
			headers := []string{}
			for _, v := range tt.xff {
				headers = append(headers, "X-Forwarded-For", v)
			}
			resp := e.doMulti(t, "/v1/track", `{"event":"E","userId":"u","messageId":"ip"}`, headers...)
			require.Equal(t, 200, resp.status, "%s", resp.body)
			evs := e.records(t)
			require.Len(t, evs, 1)
			require.Equal(t, tt.want, evs[0].IP)
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "10.1.2.3": "10.1.2.3/32",
		"2001:db8::/32": "2001:db8::/32", "::1": "::1/128", "::ffff:10.0.0.1": "10.0.0.1/32",
	} {
		p, err := parsePrefix(in)
		require.NoError(t, err, in)
		require.Equal(t, want, p.String(), in)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "::ffff:10.0.0.0/104", "10.0.0.0/"} {
		_, err := parsePrefix(bad)
		require.Error(t, err, bad)
	}
}
