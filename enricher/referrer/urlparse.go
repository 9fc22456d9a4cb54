package referrer

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxHostLen is the longest host name DNS allows; longer "hosts" are refused.
const maxHostLen = 253

// parts is a URL cut into the pieces the classifier needs. Every field is a
// substring of the input (no copy), except host when it had to be lowercased.
type parts struct {
	host  string // lowercased, without userinfo, port, brackets or trailing dot; "" if none or invalid
	rest  string // everything after the authority: path, ?query and #fragment
	path  string
	query string // without '?'
	frag  string // without '#'
}

// split cuts s into parts without allocating (unless the host has upper-case
// letters). It accepts absolute URLs ("https://h/p"), scheme-relative ones
// ("//h/p") and bare hosts ("www.google.com/search?q=x"); a URL with a
// scheme but no authority ("about:blank", "javascript:…") has no host.
func split(s string) parts {
	s = strings.TrimSpace(s)
	var p parts
	if i := strings.Index(s, "://"); i > 0 && i <= 32 && isScheme(s[:i]) {
		s = s[i+3:]
	} else if strings.HasPrefix(s, "//") {
		s = s[2:]
	} else if c := strings.IndexByte(s, ':'); c > 0 && isScheme(s[:c]) && !strings.Contains(s[:c], ".") && !isPort(s[c+1:]) {
		// about:blank, mailto:x@y, javascript:void(0): no authority.
		p.rest = s[c+1:]
		p.path, p.query, p.frag = cutRest(p.rest)
		return p
	}
	end := strings.IndexAny(s, "/?#\\")
	if end < 0 {
		end = len(s)
	}
	p.host = normHost(s[:end])
	p.rest = s[end:]
	p.path, p.query, p.frag = cutRest(p.rest)
	return p
}

func cutRest(rest string) (path, query, frag string) {
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest, frag = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query = rest[:i], rest[i+1:]
	}
	return rest, query, frag
}

func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isPort reports whether s starts with digits followed by the end or a
// path/query/fragment: "8080/x" in "localhost:8080/x".
func isPort(s string) bool {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n > 0 && (n == len(s) || strings.IndexByte("/?#", s[n]) >= 0)
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// normHost strips userinfo, port, IPv6 brackets and a trailing dot, and
// lowercases ASCII letters. It returns "" for anything that is not a
// plausible host name or address.
func normHost(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return ""
		}
		a = a[1:i]
		for j := 0; j < len(a); j++ {
			if c := a[j]; !isHex(c) && c != ':' && c != '.' {
				return ""
			}
		}
		return lowerASCII(a)
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		a = a[:i]
	}
	a = strings.TrimSuffix(a, ".")
	if a == "" || len(a) > maxHostLen || a[0] == '.' {
		return ""
	}
	ascii := true
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case isAlpha(c), isDigit(c), c == '-', c == '.', c == '_':
		case c >= 0x80:
			ascii = false
		default:
			return ""
		}
	}
	if !ascii && !utf8.ValidString(a) {
		return ""
	}
	return lowerASCII(a)
}

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// lowerASCII lowercases ASCII letters, allocating only when there are any.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// param returns the raw (still escaped) value of the first occurrence of key
// in the query string q, and whether key occurred.
func param(q, key string) (string, bool) {
	for q != "" {
		var kv string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, ""
		}
		if len(kv) < len(key) || kv[:len(key)] != key {
			continue
		}
		if len(kv) == len(key) {
			return "", true
		}
		if kv[len(key)] == '=' {
			return kv[len(key)+1:], true
		}
	}
	return "", false
}

// clean unescapes a query value ('+' is a space), keeps it valid UTF-8,
// trims spaces and caps it at MaxValueLen bytes on a rune boundary. It
// allocates only when the value has escapes or needs repair.
func clean(v string) string {
	if v == "" {
		return ""
	}
	if strings.ContainsAny(v, "%+") {
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		} else {
			v = strings.ReplaceAll(v, "+", " ") // a stray '%': keep the text as sent
		}
	}
	return capLen(v)
}

// capLen trims spaces, repairs invalid UTF-8 and cuts s to MaxValueLen bytes.
func capLen(v string) string {
	v = strings.TrimSpace(v)
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) > MaxValueLen {
		n := MaxValueLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = strings.TrimSpace(v[:n])
	}
	return v
}
