// Command sillage runs Sillage: every stage in one process by default (the
// embedded default), or the roles chosen with -target against real Kafka.
//
//	sillage [flags]              run (see -help)
//	sillage replay [flags]       replay the REES46 clickstream into a collector
//	sillage lake query SQL       run SQL over the Parquet lake with DuckDB
//	sillage lake ddl [flags]     print CREATE TABLE statements for Athena, Trino, Spark
//	sillage version              print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sillage/sillage/internal/app"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func run(args []string) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "replay":
			return replayMain(args[1:])
		case "lake":
			return lakeMain(args[1:], os.Stdin, os.Stdout, os.Stderr)
		case "version":
			fmt.Println("sillage", version)
			return 0
		default:
			fmt.Fprintf(os.Stderr, "sillage: unknown command %q (commands: replay, lake, version; flags: sillage -help)\n", args[0])
			return 2
		}
	}
	for _, a := range args {
		if a == "-version" || a == "--version" {
			fmt.Println("sillage", version)
			return 0
		}
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
