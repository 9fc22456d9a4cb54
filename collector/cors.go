package collector

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// CORS: browsers send the tag's events as text/plain (no preflight), but
// other scripts may send application/json with an Authorization header,
// which needs a preflight. A preflight carries no write key, so it is
// answered for any origin some source allows; the request itself is then
// checked against its own source's allow-list.

// preflight answers an OPTIONS request.
func (c *Collector) preflight(ctx *fasthttp.RequestCtx, origin []byte) {
	if len(origin) == 0 || !c.anySourceAllows(origin) {
		c.refuse(ctx, newError(fasthttp.StatusForbidden, reasonOriginNotAllowed, "origin %q is not allowed by any source", origin))
		return
	}
	h := &ctx.Response.Header
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, Authorization")
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (c *Collector) anySourceAllows(origin []byte) bool {
	for _, s := range c.sources {
		if originAllowed(s.AllowedOrigins, origin) {
			return true
		}
	}
	return false
}

// originAllowed says whether origin is in the allow-list ("*" allows all).
// Origins compare case-insensitively, a trailing slash in the list ignored.
func originAllowed(allowed []string, origin []byte) bool {
	for _, a := range allowed {
		if a == "*" {
			return true
		}
		if len(a) > 1 && a[len(a)-1] == '/' {
			a = a[:len(a)-1]
		}
		if bytes.EqualFold([]byte(a), origin) {
			return true
		}
	}
	return false
}
