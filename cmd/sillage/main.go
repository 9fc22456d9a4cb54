// Command sillage runs Sillage: every stage in one process by default (the
// embedded default), or the roles chosen with -target against real Kafka.
//
//	sillage [flags]              run (see -help)
//	sillage replay [flags]       replay the REES46 clickstream into a collector
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sillage/sillage/internal/app"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "replay" {
		return replayMain(args[1:])
	}
	cfg, _, err := app.Load(args)
	if errors.Is(err, app.ErrExit) {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sillage:", err)
		return 2
	}
	log := app.NewLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("sillage stopped with an error", "err", err)
		return 1
	}
	return 0
}
