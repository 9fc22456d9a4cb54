package collector

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"

	"github.com/valyala/fasthttp"
)

// The tag is built from tag/src by `npm run build` in tag/, which writes
// static/sillage.min.js; the file is committed so that `go build` needs no npm.
//
//go:embed static/sillage.min.js
var tagJS []byte

//go:embed static/demo.html
var demoHTML []byte

// asset is a file served with an ETag and a precomputed gzip encoding.
type asset struct {
	body, gz    []byte
	etag        string
	contentType string
	cache       string
}

type staticFiles struct{ tag, demo asset }

func loadStatic() (*staticFiles, error) {
	tag, err := newAsset(tagJS, "application/javascript; charset=utf-8", "public, max-age=300")
	if err != nil {
		return nil, fmt.Errorf("preparing tag.js: %w", err)
	}
	demo, err := newAsset(demoHTML, "text/html; charset=utf-8", "no-cache")
	if err != nil {
		return nil, fmt.Errorf("preparing the demo page: %w", err)
	}
	return &staticFiles{tag: tag, demo: demo}, nil
}

func newAsset(body []byte, contentType, cache string) (asset, error) {
	sum := sha256.Sum256(body)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return asset{}, err
	}
	if _, err := zw.Write(body); err != nil {
		return asset{}, err
	}
	if err := zw.Close(); err != nil {
		return asset{}, err
	}
	return asset{body: body, gz: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: contentType, cache: cache}, nil
}

func (s *staticFiles) serveTag(ctx *fasthttp.RequestCtx)  { s.tag.serve(ctx) }
func (s *staticFiles) serveDemo(ctx *fasthttp.RequestCtx) { s.demo.serve(ctx) }

func (a *asset) serve(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeError(ctx, newError(fasthttp.StatusMethodNotAllowed, reasonMethod, "%s %s: use GET", ctx.Method(), ctx.Path()))
		return
	}
	h := &ctx.Response.Header
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", a.cache)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.SetContentType(a.contentType)
	if string(ctx.Request.Header.Peek("If-None-Match")) == a.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set("Content-Encoding", "gzip")
		ctx.SetBody(a.gz)
		return
	}
	ctx.SetBody(a.body)
}
