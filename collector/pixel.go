package collector

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// transparentGIF is the smallest transparent 1x1 GIF (43 bytes).
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// handlePixel serves GET /v1/pixel/<type>: one event in the query string,
// answered with a 1x1 GIF once Kafka acknowledged it.
func (c *Collector) handlePixel(ctx *fasthttp.RequestCtx, typ string) {
	if !ctx.IsGet() {
		ctx.Response.Header.Set("Allow", "GET")
		c.refusePixel(ctx, newError(fasthttp.StatusMethodNotAllowed, reasonMethod, "%s %s: use GET", ctx.Method(), ctx.Path()))
		return
	}
	src, basic, aerr := c.basicAuth(ctx)
	if aerr != nil {
		c.refusePixel(ctx, aerr)
		return
	}
	env, aerr := decodePixel(typ, ctx.QueryArgs(), c.cfg.MaxEventBytes)
	if aerr != nil {
		c.refusePixel(ctx, aerr)
		return
	}
	// An <img> sends no Origin; a script's fetch does, and is checked.
	if aerr := c.accept(ctx, ctx.Request.Header.Peek("Origin"), src, basic, env); aerr != nil {
		c.refusePixel(ctx, aerr)
		return
	}
	writeGIF(ctx, fasthttp.StatusOK)
}

// refusePixel counts a refusal and answers it with the GIF, so that a
// browser shows nothing broken, with the status and an X-Sillage-Error
// header saying what is wrong.
func (c *Collector) refusePixel(ctx *fasthttp.RequestCtx, e *apiError) {
	c.m.refuse(e)
	if e.retryAfter != "" {
		ctx.Response.Header.Set("Retry-After", e.retryAfter)
	}
	ctx.Response.Header.Set("X-Sillage-Error", e.reason+": "+headerSafe(e.detail))
	writeGIF(ctx, e.status)
}

// headerSafe bounds a message sent in a header to 512 bytes and replaces
// control characters, which header values must not carry.
func headerSafe(detail string) string {
	if len(detail) > 512 {
		detail = detail[:512] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, detail)
}

func writeGIF(ctx *fasthttp.RequestCtx, status int) {
	h := &ctx.Response.Header
	h.SetContentType("image/gif")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate, private, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	h.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(status)
	ctx.SetBody(transparentGIF)
}

// Top-level query fields of a pixel event; anything else not under
// properties., traits. or context. (cache busters…) is ignored, except the
// consent parameters gdpr_consent, gdpr and gcs (queryConsent).
var pixelFields = map[string]bool{
	"writeKey": true, "messageId": true, "anonymousId": true, "userId": true, "previousId": true,
	"groupId": true, "event": true, "name": true, "timestamp": true, "sentAt": true,
}

// maxPixelDepth bounds dotted names: context.consent.categoryPreferences.analytics.
const maxPixelDepth = 4

// decodePixel decodes a pixel request's query string into an envelope of
// one event of type typ. Either data= holds the event as base64 JSON
// (standard or URL alphabet, padded or not; Segment's pixel API), or the
// fields are query parameters: the top-level ones by name, and dotted
// names build objects (properties.price=9.5, traits.plan=pro,
// context.campaign.source=newsletter), their values strings except under
// context.consent.categoryPreferences, where true and false are booleans.
func decodePixel(typ string, args *fasthttp.Args, maxEventBytes int) (*envelope, *apiError) {
	body, err := pixelBody(args, maxEventBytes)
	if err != nil {
		return nil, err
	}
	env, err := decodeBody(typ, body, maxEventBytes)
	if err != nil {
		return nil, err
	}
	env.query = queryConsent(args)
	return env, nil
}

// pixelBody returns the JSON event a pixel's query string holds. The query
// form is written by encoding/json (keys sorted, <>& escaped), as before.
func pixelBody(args *fasthttp.Args, maxEventBytes int) ([]byte, *apiError) {
	if data := args.Peek("data"); len(data) > 0 {
		return decodeBase64(data, maxEventBytes)
	}
	ev := map[string]any{}
	for k, v := range args.All() {
		if err := setPixelField(ev, string(k), string(v)); err != nil {
			return nil, err
		}
	}
	if len(ev) == 0 {
		return nil, badEvent("query", "empty: want data=<base64 JSON event> or the event's fields as parameters")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, newError(fasthttp.StatusBadRequest, reasonInvalidEvent, "query: %v", err)
	}
	return body, nil
}

func decodeBase64(data []byte, maxEventBytes int) ([]byte, *apiError) {
	if base64.StdEncoding.DecodedLen(len(data)) > maxEventBytes+3 {
		return nil, &apiError{status: fasthttp.StatusRequestEntityTooLarge, reason: reasonEventTooLarge, events: 1,
			detail: "data: the event is larger than the limit of " + strconv.Itoa(maxEventBytes) + " bytes"}
	}
	// Query strings turn an unescaped '+' into a space.
	s := strings.ReplaceAll(string(bytes.TrimRight(data, "=")), " ", "+")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, badEvent("data", "not base64 (standard or URL alphabet): %v", err)
	}
	return b, nil
}

// setPixelField sets one query parameter in the event being built.
func setPixelField(ev map[string]any, key, value string) *apiError {
	if pixelFields[key] {
		ev[key] = value
		return nil
	}
	path := strings.Split(key, ".")
	switch path[0] {
	case "properties", "traits", "context":
	default:
		return nil
	}
	if len(path) < 2 || len(path) > maxPixelDepth {
		return badEvent(key, "want %s.NAME with at most %d dotted parts", path[0], maxPixelDepth)
	}
	for _, p := range path[1:] {
		if p == "" {
			return badEvent(key, "empty part in a dotted name")
		}
	}
	m := ev
	for i, p := range path[:len(path)-1] {
		switch next := m[p].(type) {
		case nil:
			child := map[string]any{}
			m[p] = child
			m = child
		case map[string]any:
			m = next
		default:
			return badEvent(key, "%s is already set to a value", strings.Join(path[:i+1], "."))
		}
	}
	last := path[len(path)-1]
	if _, isObj := m[last].(map[string]any); isObj {
		return badEvent(key, "already used as an object")
	}
	var v any = value
	if len(path) == 4 && path[0] == "context" && path[1] == "consent" && path[2] == "categoryPreferences" {
		switch value {
		case "true":
			v = true
		case "false":
			v = false
		}
	}
	m[last] = v
	return nil
}
