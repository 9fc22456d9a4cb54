package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sillage/sillage/internal/replay"
)

// replayMain runs `sillage replay`: posts the REES46 clickstream sample to a
// running collector as Segment-API events.
func replayMain(args []string) int {
	cfg := replay.DefaultConfig()
	fs := flag.NewFlagSet("sillage replay", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sillage replay [flags]\n\nReplays the REES46 clickstream CSV into a running collector (view → Product Viewed,\ncart → Product Added, purchase → Order Completed). Message ids are derived from the rows,\nso a re-run or a retried batch never duplicates an event.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "sillage replay:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := replay.Run(ctx, cfg, log)
	fmt.Printf("replay: %d rows, %d sent, %d acknowledged, %d failed (%d requests, %d retries)\n",
		st.Rows, st.Sent, st.Acknowledged, st.Failed, st.Requests, st.Retries)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sillage replay:", err)
		return 1
	}
	return 0
}
