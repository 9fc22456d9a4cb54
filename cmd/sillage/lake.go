package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sillage/sillage/internal/app"
	"github.com/sillage/sillage/internal/lake"
	"github.com/sillage/sillage/sink"
)

const lakeUsage = `usage: sillage lake query [flags] SQL

Runs SQL over the Parquet lake with DuckDB. Each table of the lake (events,
segments, failed, corrections) is a view over its files, with the Hive
partitions dt (DATE) and hr (INTEGER) as columns:

  sillage lake query "select event, count(*) from events group by 1"
  sillage lake query -format csv "select * from events where dt = '2019-10-01'"
  echo "describe events" | sillage lake query -

The lake is found as by the sillage command itself: -sink.root, else
<-data.dir>/lake, also from -config.file. It must be a local folder (a path or
file://); for s3:// lakes see README, "Reading the lake".

flags:`

const lakeDDLUsage = `usage: sillage lake ddl [flags]

Prints the statements that declare the lake's tables to Athena, Trino (Hive
connector) or Spark SQL over the same files, with the columns the sink writes
and the Hive partitions dt and hr (strings: '2019-10-01', '08'):

  sillage lake ddl -engine athena -location s3://bucket/prefix

flags:`

// lakeMain runs `sillage lake …`.
func lakeMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ddl" {
		return lakeDDL(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "query" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, strings.TrimSuffix(lakeUsage, "\n\nflags:"))
			fmt.Fprintln(stdout)
			fmt.Fprintln(stdout, strings.TrimSuffix(lakeDDLUsage, "\n\nflags:"))
			return 0
		}
		fmt.Fprintln(stderr, "sillage lake: want a subcommand: query or ddl (sillage lake query -help)")
		return 2
	}
	fs := flag.NewFlagSet("sillage lake query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output: table (aligned), csv or json")
	fs.String("config.file", "", "YAML configuration file of sillage (its data_dir and sink.root)")
	fs.String("data.dir", "", "sillage's data directory: the lake is <data.dir>/lake (default ./sillage-data)")
	fs.String("sink.root", "", "lake root: a path or file:// URL (default <data.dir>/lake)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), lakeUsage)
		fs.PrintDefaults()
	}
	// Flags may come before or after the SQL.
	var queries []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		queries = append(queries, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(queries) != 1 {
		fmt.Fprintf(stderr, "sillage lake query: want one SQL argument (quote it; \"-\" reads it from standard input), got %d\n", len(queries))
		return 2
	}
	if err := lake.CheckFormat(*format); err != nil {
		fmt.Fprintln(stderr, "sillage lake query: -format:", err)
		return 2
	}
	query := queries[0]
	if query == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "sillage lake query: reading SQL from standard input:", err)
			return 2
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		fmt.Fprintln(stderr, "sillage lake query: the SQL is empty")
		return 2
	}

	// The lake root, resolved as the sillage command does (defaults, the
	// config file, then flags).
	// -sink.root is not passed on: lake.Open explains the roots it cannot
	// read better than the configuration's validation.
	var loadArgs []string
	root := ""
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "format":
		case "sink.root":
			root = f.Value.String()
		default:
			loadArgs = append(loadArgs, "-"+f.Name, f.Value.String())
		}
	})
	if root == "" {
		cfg, _, err := app.Load(loadArgs)
		if err != nil {
			fmt.Fprintln(stderr, "sillage lake query:", err)
			return 2
		}
		root = cfg.Sink.Root
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := lake.Open(ctx, root)
	if err != nil {
		fmt.Fprintln(stderr, "sillage lake query:", err)
		return 1
	}
	defer l.Close()
	if err := l.Write(ctx, stdout, *format, query); err != nil {
		fmt.Fprintln(stderr, "sillage lake query:", err)
		return 1
	}
	return 0
}

// lakeDDL runs `sillage lake ddl`.
func lakeDDL(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sillage lake ddl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engine := fs.String("engine", "athena", "engine: "+strings.Join(lake.Engines, ", "))
	location := fs.String("location", "", "the lake's root as the engine names it, e.g. s3://bucket/prefix (required)")
	table := fs.String("table", "", "one table (default: all of "+strings.Join(sink.Tables, ", ")+")")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), lakeDDLUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sillage lake ddl: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *location == "" {
		fmt.Fprintln(stderr, "sillage lake ddl: -location is required (the lake's root, e.g. s3://bucket/prefix)")
		return 2
	}
	tables := sink.Tables
	if *table != "" {
		tables = []string{*table}
	}
	for i, t := range tables {
		ddl, err := lake.DDL(*engine, t, *location)
		if err != nil {
			fmt.Fprintln(stderr, "sillage lake ddl:", err)
			return 2
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprint(stdout, ddl)
	}
	return 0
}
