package collector

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// parsePrefix parses a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// address ("10.1.2.3", a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an IP", s)
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("%q: write IPv4 ranges in IPv4 form", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an IP", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// proxies is the set of trusted proxy ranges.
type proxies []netip.Prefix

func newProxies(cidrs []string) (proxies, error) {
	ps := make(proxies, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := parsePrefix(c)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client: the TCP peer's, unless the peer
// is a trusted proxy; then X-Forwarded-For (every such header, in order,
// comma-separated hops) is read from the right and the first hop that is
// not a trusted proxy is the client (the rightmost-untrusted rule: hops to
// its left were written by the client itself and cannot be believed). When
// every hop is trusted, the leftmost is the client. A hop that is not an IP
// address stops the walk: the last good address seen is used.
func (ps proxies) clientIP(ctx *fasthttp.RequestCtx) string {
	peer := remoteAddr(ctx)
	if len(ps) == 0 || !peer.IsValid() || !ps.trusted(peer) {
		return addrString(peer, ctx)
	}
	client := peer
	headers := ctx.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor)
	for h := len(headers) - 1; h >= 0; h-- {
		v := headers[h]
		for len(v) > 0 {
			hop := v
			if i := bytes.LastIndexByte(v, ','); i >= 0 {
				hop, v = v[i+1:], v[:i]
			} else {
				v = nil
			}
			a, ok := parseHop(bytes.TrimSpace(hop))
			if !ok {
				return client.String()
			}
			client = a
			if !ps.trusted(a) {
				return client.String()
			}
		}
	}
	return client.String()
}

// parseHop parses one X-Forwarded-For entry: an IP, possibly with a port
// ("1.2.3.4:80", "[2001:db8::1]:80") or in brackets.
func parseHop(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	s := string(b)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

func addrString(a netip.Addr, ctx *fasthttp.RequestCtx) string {
	if a.IsValid() {
		return a.String()
	}
	return ctx.RemoteIP().String()
}
