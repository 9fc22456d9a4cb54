// Command loadgen is the fixed-rate load generator of the collector
// benchmark (scripts/bench-collector.sh). wrk measures the maximum rate (it
// is closed-loop: each connection sends its next request when the previous
// one is answered); loadgen measures latency at a chosen rate below that
// maximum, which wrk cannot do (wrk2, its fixed-rate fork, is not in Debian).
//
// It is open-loop: request i is due at start + i/rate whatever happened
// before, and its latency is measured from that due time, not from when a
// connection was free to send it, so a stalled server shows up in the
// percentiles instead of silently slowing the generator down (coordinated
// omission). Requests go over -conns keep-alive connections; if all are
// busy, due requests queue and their wait counts as latency.
//
//	loadgen -url http://127.0.0.1:8080/v1/track -mode track -rate 15000 -duration 15s -conns 64 -auth sillage-demo:
//
// The bodies are the events of bench/collector/wrk/event.lua (same shape
// and size), with a messageId unique per request and event. It prints one
// line: "RESULT key=value ...", latencies in microseconds.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type result struct {
	lat     []time.Duration
	ok      int
	non2xx  int
	errs    int
	lastErr error
}

func run() error {
	url := flag.String("url", "", "target URL (required)")
	mode := flag.String("mode", "track", "body: track (one event) or batch (-batch events)")
	batch := flag.Int("batch", 20, "events per request in batch mode")
	rate := flag.Float64("rate", 1000, "requests per second")
	dur := flag.Duration("duration", 15*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "connections (and concurrent requests)")
	auth := flag.String("auth", "", "HTTP Basic credentials user:password (empty: none)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	flag.Parse()
	switch {
	case *url == "":
		return fmt.Errorf("-url: required")
	case *mode != "track" && *mode != "batch":
		return fmt.Errorf("-mode: %q is neither track nor batch", *mode)
	case *rate <= 0 || *conns <= 0 || *dur <= 0 || *batch <= 0:
		return fmt.Errorf("-rate, -conns, -duration and -batch must be positive")
	}

	var uri fasthttp.URI
	if err := uri.Parse(nil, []byte(*url)); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	client := &fasthttp.HostClient{
		Addr:                string(uri.Host()),
		MaxConns:            *conns,
		MaxIdleConnDuration: time.Minute,
		ReadTimeout:         *timeout,
		WriteTimeout:        *timeout,
	}
	authHeader := ""
	if *auth != "" {
		authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(*auth))
	}

	total := int(*rate * dur.Seconds())
	due := make(chan time.Time, 1<<16)
	results := make([]result, *conns)
	runID := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := &results[w]
			r.lat = make([]time.Duration, 0, total / *conns + 16)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(*url)
			req.Header.SetContentType("application/json")
			if authHeader != "" {
				req.Header.Set("Authorization", authHeader)
			}
			prefix := runID + "-" + strconv.Itoa(w) + "-"
			var body []byte
			for n := 1; ; n++ {
				t, open := <-due
				if !open {
					return
				}
				id := prefix + strconv.Itoa(n)
				if *mode == "track" {
					body = appendEvent(body[:0], id)
				} else {
					body = appendBatch(body[:0], id, *batch)
				}
				req.SetBodyRaw(body)
				err := client.DoTimeout(req, resp, *timeout)
				r.lat = append(r.lat, time.Since(t))
				switch {
				case err != nil:
					r.errs++
					r.lastErr = err
				case resp.StatusCode()/100 == 2:
					r.ok++
				default:
					r.non2xx++
				}
				sent.Add(1)
			}
		}(w)
	}

	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	for i := 0; i < total; {
		now := time.Now()
		for ; i < total; i++ {
			t := start.Add(time.Duration(i) * interval)
			if t.After(now) {
				break
			}
			due <- t
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)

	var all result
	for i := range results {
		all.lat = append(all.lat, results[i].lat...)
		all.ok += results[i].ok
		all.non2xx += results[i].non2xx
		all.errs += results[i].errs
		if results[i].lastErr != nil {
			all.lastErr = results[i].lastErr
		}
	}
	slices.Sort(all.lat)
	pct := func(p float64) int64 {
		if len(all.lat) == 0 {
			return 0
		}
		i := int(p * float64(len(all.lat)-1))
		return all.lat[i].Microseconds()
	}
	fmt.Printf("RESULT requests=%d duration_us=%d target_rps=%.0f ok=%d non2xx=%d errors=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
		len(all.lat), elapsed.Microseconds(), *rate, all.ok, all.non2xx, all.errs,
		pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
	if all.lastErr != nil {
		fmt.Fprintln(os.Stderr, "loadgen: last error:", all.lastErr)
	}
	return nil
}
