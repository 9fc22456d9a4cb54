// Command ceiling is the machine's HTTP ceiling for the collector benchmark
// (scripts/bench-collector.sh): a bare fasthttp server that answers 200 with
// an empty body to any request, doing no work, not even reading the body
// beyond what fasthttp reads for it. Whatever the collector achieves is
// reported as a ratio of what this server achieves on the same machine under
// the same load.
//
//	ceiling -addr 127.0.0.1:18080
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	flag.Parse()

	srv := &fasthttp.Server{
		Handler:               func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusOK) },
		Name:                  "ceiling",
		NoDefaultServerHeader: true,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*addr) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	case <-sig:
		_ = srv.Shutdown()
	}
}
