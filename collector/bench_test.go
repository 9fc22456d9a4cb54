package collector

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// The benchmarks call the handler directly (no socket) with a real
// idempotent acks=all producer to kfake, so each op includes waiting for
// Kafka's acknowledgement. "serial" is one request at a time (latency
// bound); "concurrent" has 64 requests in flight per CPU, like many
// keep-alive connections.

const trackBody = `{"messageId":"bench-1","anonymousId":"3f1c2a8e-5d4b-4e8f-9a21-7c3b6d0e1f42","event":"Product Added",` +
	`"properties":{"product_id":"p-1001","sku":"TEE-BLU-M","name":"Blue tee","price":19.9,"currency":"EUR","quantity":1},` +
	`"timestamp":"2024-06-01T11:59:58.250Z","sentAt":"2024-06-01T11:59:59Z",` +
	`"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",` +
	`"locale":"fr-FR","library":{"name":"sillage.js","version":"0.1.0"},` +
	`"page":{"url":"https://shop.example/p/1001","path":"/p/1001","referrer":"https://www.google.com/","title":"Blue tee"},` +
	`"consent":{"categoryPreferences":{"analytics":true,"marketing":false}}}}`

func batchBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"sentAt":"2024-06-01T11:59:59Z","batch":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.Replace(strings.Replace(trackBody, `"bench-1"`, `"bench-`+strconv.Itoa(i)+`"`, 1), `{"messageId"`, `{"type":"track","messageId"`, 1))
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkTrackHandler(b *testing.B) {
	benchHandler(b, "/v1/track", trackBody, 1)
}

func BenchmarkBatchHandler(b *testing.B) {
	benchHandler(b, "/v1/batch", batchBody(20), 20)
}

func benchHandler(b *testing.B, path, body string, events int) {
	e := newEnv(b, nil)
	h := e.coll.Handler()
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	newCtx := func() *fasthttp.RequestCtx {
		var req fasthttp.Request
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(path)
		req.Header.Set("Authorization", basic(testKey))
		req.Header.SetContentType("text/plain;charset=UTF-8")
		req.SetBodyString(body)
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, remote, nil)
		return ctx
	}
	run := func(b *testing.B, ctx *fasthttp.RequestCtx, failed *atomic.Int64) {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			failed.Add(1)
		}
	}
	report := func(b *testing.B, failed *atomic.Int64) {
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d requests were not acknowledged", n)
		}
		b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		var failed atomic.Int64
		ctx := newCtx()
		for b.Loop() {
			run(b, ctx, &failed)
		}
		report(b, &failed)
	})
	b.Run("concurrent", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(64)
		var failed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ctx := newCtx()
			for pb.Next() {
				run(b, ctx, &failed)
			}
		})
		report(b, &failed)
	})
}

// BenchmarkDecode measures the request-body decoding alone: decodeBody and
// toRaw of every event, without HTTP or Kafka.
func BenchmarkDecode(b *testing.B) {
	meta := &requestMeta{source: "web", receivedAt: 1_717_243_200_000, ip: "127.0.0.1", userAgent: "UA"}
	for _, bc := range []struct {
		name, endpoint, body string
	}{
		{"track", "track", trackBody},
		{"batch20", "batch", batchBody(20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			body := []byte(bc.body)
			for b.Loop() {
				env, aerr := decodeBody(bc.endpoint, body, 32*1024)
				if aerr != nil {
					b.Fatal(aerr)
				}
				for i := range env.events {
					idx := i
					if !env.batch {
						idx = -1
					}
					if _, err := toRaw(&env.events[i], idx, env, meta); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
