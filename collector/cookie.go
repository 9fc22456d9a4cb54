package collector

import (
	"regexp"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/schemas"
)

// Cookie configures the server-set first-party cookie of a source: when
// Name is set, every accepted request whose last event has analytics
// consent and an anonymous id gets a Set-Cookie holding that id, renewed
// on each such request. Set by the collector's own HTTP response (served
// from the site's domain, e.g. collect.shop.example with Domain
// shop.example), it is not subject to the caps browsers put on cookies
// and storage written by scripts (Safari's seven days), so a returning
// visitor keeps the same anonymous id. The tag reads it (it is not
// HttpOnly) and sends it as anonymousId. A request whose last event has no
// analytics consent and that carries the cookie gets it deleted: the
// cookie never outlives a withdrawal of consent.
type Cookie struct {
	// Name of the cookie; empty: no cookie. The tag reads "sillage_aid".
	Name string `yaml:"name"`
	// Domain attribute, e.g. "shop.example" so that pages on shop.example
	// and the collector on collect.shop.example share it; empty: the
	// collector's host only.
	Domain string `yaml:"domain"`
	// MaxAge of the cookie (Chromium caps it at 400 days); default 395 days.
	MaxAge time.Duration `yaml:"max_age"`
	// Insecure drops the Secure attribute (plain-HTTP test setups only).
	Insecure bool `yaml:"insecure"`
}

const defaultCookieAge = 395 * 24 * time.Hour

// cookieValue says whether an anonymous id can go in a cookie unquoted
// and unchanged: 1 to 128 of A-Z a-z 0-9 . _ ~ - (RFC 6265 cookie-octets,
// conservatively; the tag reads the same set back).
func cookieValue(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '~', b == '-':
		default:
			return false
		}
	}
	return true
}

// cookieName is an RFC 6265 token; cookieDomain a host name.
var (
	cookieName   = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
	cookieDomain = regexp.MustCompile(`^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
)

// identityCookie sets, renews or deletes the source's cookie after the
// request's events were accepted.
func (c *Collector) identityCookie(ctx *fasthttp.RequestCtx, src *Source, events []schemas.RawEvent) {
	ck := &src.Cookie
	if ck.Name == "" || len(events) == 0 {
		return
	}
	last := &events[len(events)-1]
	var value string
	var age time.Duration
	switch {
	case last.Consent.Analytics && cookieValue(last.AnonymousID):
		value, age = last.AnonymousID, ck.MaxAge
		if age <= 0 {
			age = defaultCookieAge
		}
	case !last.Consent.Analytics && len(ctx.Request.Header.Cookie(ck.Name)) > 0:
		age = -1 // delete
	default:
		return
	}
	cookie := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(cookie)
	cookie.SetKey(ck.Name)
	cookie.SetValue(value)
	cookie.SetPath("/")
	if ck.Domain != "" {
		cookie.SetDomain(ck.Domain)
	}
	if age < 0 {
		cookie.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		cookie.SetMaxAge(int(age / time.Second))
	}
	cookie.SetSecure(!ck.Insecure)
	// Lax: sent with the site's own requests to its collector subdomain,
	// not with other sites' requests.
	cookie.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	ctx.Response.Header.SetCookie(cookie)
}
