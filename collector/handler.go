package collector

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/schemas"
)

// Handler returns the collector's request handler (for tests, benchmarks
// and embedding in another fasthttp server).
func (c *Collector) Handler() fasthttp.RequestHandler { return c.handle }

func (c *Collector) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	endpoint := "other"
	switch p := string(ctx.Path()); p {
	case "/v1/batch", "/v1/track", "/v1/page", "/v1/identify", "/v1/alias", "/v1/group", "/v1/screen":
		endpoint = p[len("/v1/"):]
		if c.enter(ctx, false) {
			c.handleAPI(ctx, endpoint)
			c.leave()
		}
	case "/v1/pixel/track", "/v1/pixel/page", "/v1/pixel/identify", "/v1/pixel/alias", "/v1/pixel/group", "/v1/pixel/screen":
		endpoint = "pixel"
		if c.enter(ctx, true) {
			c.handlePixel(ctx, p[len("/v1/pixel/"):])
			c.leave()
		}
	case "/tag.js":
		endpoint = "tag"
		c.static.serveTag(ctx)
	case "/demo", "/demo/":
		endpoint = "demo"
		c.static.serveDemo(ctx)
	case "/healthz":
		endpoint = "healthz"
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	case "/readyz":
		endpoint = "readyz"
		ctx.SetContentType("application/json")
		if c.Ready() {
			ctx.SetBodyString(`{"status":"ready"}`)
		} else {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.Response.Header.Set("Retry-After", c.retryAfter())
			ctx.SetBodyString(`{"status":"not ready","detail":"not serving yet, Kafka is not acknowledging (no spool), or the spool is full"}`)
		}
	default:
		e := newError(fasthttp.StatusNotFound, reasonNotFound, "no such endpoint: %s %q", ctx.Method(), p)
		if strings.HasPrefix(p, "/v1/") {
			c.refuse(ctx, e) // an event sent to a wrong endpoint is a refused event
		} else {
			writeError(ctx, e)
		}
	}
	c.m.requestDuration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

// handleAPI serves POST /v1/<endpoint> and its CORS preflight.
func (c *Collector) handleAPI(ctx *fasthttp.RequestCtx, endpoint string) {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) > 0 && c.anySourceAllows(origin) {
		h := &ctx.Response.Header
		h.SetBytesV("Access-Control-Allow-Origin", origin)
		// The tag sends credentials (the source's first-party cookie) once
		// analytics is granted; the collector authenticates nothing by
		// cookie, so allowing them carries no CSRF risk.
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Vary", "Origin")
	}
	if ctx.IsOptions() {
		c.preflight(ctx, origin)
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST, OPTIONS")
		c.refuse(ctx, newError(fasthttp.StatusMethodNotAllowed, reasonMethod, "%s %s: use POST", ctx.Method(), ctx.Path()))
		return
	}
	src, basic, aerr := c.basicAuth(ctx)
	if aerr != nil {
		c.refuse(ctx, aerr)
		return
	}
	body, aerr := c.body(ctx)
	if aerr != nil {
		c.refuse(ctx, aerr)
		return
	}
	env, aerr := decodeBody(endpoint, body, c.cfg.MaxEventBytes)
	if aerr != nil {
		c.refuse(ctx, aerr)
		return
	}
	if err := c.accept(ctx, origin, src, basic, env); err != nil {
		c.refuse(ctx, err)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(successBody)
}

// accept checks a decoded request's write key, origin and rate limit,
// turns its events into raw events and produces them; nil means Kafka
// acknowledged every one. src is the HTTP Basic user's source when basic.
func (c *Collector) accept(ctx *fasthttp.RequestCtx, origin []byte, src *Source, basic bool, env *envelope) *apiError {
	n := len(env.events)
	if !basic {
		if env.writeKey == "" {
			return &apiError{status: fasthttp.StatusUnauthorized, reason: reasonUnauthorized, events: n,
				detail: "missing write key: send it as the HTTP Basic user or the writeKey field"}
		}
		if src = c.sources[env.writeKey]; src == nil {
			return &apiError{status: fasthttp.StatusUnauthorized, reason: reasonUnauthorized, events: n,
				detail: "unknown write key"}
		}
	}
	if len(origin) > 0 && !originAllowed(src.AllowedOrigins, origin) {
		return &apiError{status: fasthttp.StatusForbidden, reason: reasonOriginNotAllowed, events: n,
			detail: "origin " + string(origin) + " is not allowed for source " + src.Name}
	}

	meta := c.meta(ctx, src)
	events := make([]schemas.RawEvent, n)
	for i := range env.events {
		idx := i
		if !env.batch {
			idx = -1
		}
		var err *apiError
		if events[i], err = toRaw(&env.events[i], idx, env, &meta); err != nil {
			err.events = n
			return err
		}
	}
	// Tokens are taken only for valid events, just before producing.
	if err := c.takeTokens(src, n); err != nil {
		return err
	}
	if err := c.produce(events); err != nil {
		return err
	}
	c.m.accepted.Add(float64(n))
	c.consentErrors(ctx, env)
	c.identityCookie(ctx, src, events)
	return nil
}

// consentErrors counts the malformed consent signals of accepted events
// (each event was kept, with necessary consent only from that signal) and
// names the first in an X-Sillage-Consent-Error header of the answer.
func (c *Collector) consentErrors(ctx *fasthttp.RequestCtx, env *envelope) {
	n, first := 0, ""
	for i := range env.events {
		for _, err := range env.events[i].consentErrors {
			c.m.consentErrors.WithLabelValues(err.Signal).Inc()
			if n++; n == 1 {
				first = err.Error()
				if env.batch {
					first = "batch[" + strconv.Itoa(i) + "]: " + first
				}
			}
		}
	}
	if n > 1 {
		first += " (and " + strconv.Itoa(n-1) + " more)"
	}
	if n > 0 {
		ctx.Response.Header.Set("X-Sillage-Consent-Error", headerSafe(first))
	}
}

func (c *Collector) refuse(ctx *fasthttp.RequestCtx, e *apiError) {
	c.m.refuse(e)
	writeError(ctx, e)
}

// body returns the request body, gunzipped when it says so, within
// MaxBodyBytes; sendBeacon's text/plain bodies are read as JSON like any other.
func (c *Collector) body(ctx *fasthttp.RequestCtx) ([]byte, *apiError) {
	enc := ctx.Request.Header.ContentEncoding()
	switch {
	case len(enc) == 0 || bytes.EqualFold(enc, []byte("identity")):
		b := ctx.Request.Body()
		if len(b) > c.cfg.MaxBodyBytes {
			return nil, newError(fasthttp.StatusRequestEntityTooLarge, reasonBodyTooLarge, "body exceeds %d bytes (it has %d)", c.cfg.MaxBodyBytes, len(b))
		}
		return b, nil
	case bytes.EqualFold(enc, []byte("gzip")):
		b, err := ctx.Request.BodyGunzipWithLimit(c.cfg.MaxBodyBytes)
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			return nil, newError(fasthttp.StatusRequestEntityTooLarge, reasonBodyTooLarge, "gunzipped body exceeds %d bytes", c.cfg.MaxBodyBytes)
		}
		if err != nil {
			return nil, newError(fasthttp.StatusBadRequest, reasonBadEncoding, "body is not valid gzip: %v", err)
		}
		return b, nil
	}
	return nil, newError(fasthttp.StatusUnsupportedMediaType, reasonBadEncoding, "Content-Encoding %q is not supported, use gzip or none", enc)
}

// basicAuth finds the source of the HTTP Basic user, if the request has
// one. basic is false when there is no Authorization header.
func (c *Collector) basicAuth(ctx *fasthttp.RequestCtx) (src *Source, basic bool, err *apiError) {
	h := ctx.Request.Header.Peek("Authorization")
	if len(h) == 0 {
		return nil, false, nil
	}
	const prefix = "basic "
	if len(h) < len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return nil, true, newError(fasthttp.StatusUnauthorized, reasonUnauthorized, "Authorization: want Basic credentials with the write key as user")
	}
	dec, derr := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(h[len(prefix):])))
	if derr != nil {
		return nil, true, newError(fasthttp.StatusUnauthorized, reasonUnauthorized, "Authorization: Basic credentials are not valid base64")
	}
	key := dec
	if i := bytes.IndexByte(dec, ':'); i >= 0 {
		key = dec[:i]
	}
	if src = c.sources[string(key)]; src == nil {
		return nil, true, newError(fasthttp.StatusUnauthorized, reasonUnauthorized, "unknown write key")
	}
	return src, true, nil
}

const hintPrefix = "sec-ch-ua"

// meta captures what the request says about all its events.
func (c *Collector) meta(ctx *fasthttp.RequestCtx, src *Source) requestMeta {
	m := requestMeta{
		source:     src.Name,
		receivedAt: c.clock().UnixMilli(),
		ip:         c.proxies.clientIP(ctx),
		userAgent:  string(ctx.UserAgent()),
		gpc:        string(bytes.TrimSpace(ctx.Request.Header.Peek("Sec-GPC"))) == "1",
	}
	for k, v := range ctx.Request.Header.All() {
		if len(k) >= len(hintPrefix) && bytes.EqualFold(k[:len(hintPrefix)], []byte(hintPrefix)) {
			if m.clientHints == nil {
				m.clientHints = map[string]string{}
			}
			m.clientHints[string(bytes.ToLower(k))] = string(v)
		}
	}
	return m
}

// errorHandler answers errors fasthttp meets before the handler runs.
func (c *Collector) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var e *apiError
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = newError(fasthttp.StatusRequestEntityTooLarge, reasonBodyTooLarge, "body exceeds %d bytes", c.cfg.MaxBodyBytes)
	case errors.As(err, &small):
		e = newError(fasthttp.StatusRequestHeaderFieldsTooLarge, reasonBadRequest, "request line and headers are too large")
	default:
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			e = newError(fasthttp.StatusRequestTimeout, reasonBadRequest, "request was not read in time")
		} else {
			e = newError(fasthttp.StatusBadRequest, reasonBadRequest, "cannot parse the HTTP request: %s", redactRequest(err.Error()))
		}
	}
	c.refuse(ctx, e)
}

// redactRequest cuts what fasthttp appends to its parse errors: a snippet
// of the raw request ("…: buffer size=N, contents: …"), which holds the
// Authorization header (the write key) and the body. Neither may reach a
// response or a log.
func redactRequest(msg string) string {
	for _, marker := range []string{": buffer size=", "buffer size=", "contents:"} {
		if i := strings.Index(strings.ToLower(msg), marker); i >= 0 {
			msg = msg[:i]
		}
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return strings.TrimSpace(msg)
}
