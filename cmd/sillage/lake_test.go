package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/require"
)

// smallLake writes an events table of three rows over two hour partitions
// under <dataDir>/lake, with DuckDB's own Parquet writer (the sink's files
// are covered by internal/lake's and e2e's tests).
func smallLake(t *testing.T) (dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dataDir, "lake"), 0o755))
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`COPY (SELECT * FROM (VALUES
		('e1', 'track', 'Product Viewed', NULL::double, '2024-03-01', '10'),
		('e2', 'track', 'Order Completed', 19.5, '2024-03-01', '10'),
		('e3', 'page', NULL, NULL, '2024-03-01', '11')) t(event_id, type, event, revenue, dt, hr))
		TO '` + filepath.Join(dataDir, "lake", "events") + `' (FORMAT parquet, PARTITION_BY (dt, hr))`)
	require.NoError(t, err)
	return dataDir
}

func runLake(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = lakeMain(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLakeQuery(t *testing.T) {
	dataDir := smallLake(t)
	root := filepath.Join(dataDir, "lake")

	code, out, errOut := runLake(t, "", "query", "-sink.root", root, "select type, count(*) as n from events group by 1 order by 1")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "type   n\n-----  -\npage   1\ntrack  2\n(2 rows)\n", out)

	// Flags after the SQL, the lake found from -data.dir, CSV.
	code, out, errOut = runLake(t, "", "query", "select event_id, revenue, hr from events order by 1", "-format", "csv", "-data.dir", dataDir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "event_id,revenue,hr\ne1,,10\ne2,19.5,10\ne3,,11\n", out)

	// SQL from standard input, JSON, the root as a file:// URL.
	code, out, errOut = runLake(t, "select count(*) as n from events where dt = date '2024-03-01'", "query", "-format=json", "-sink.root", "file://"+root, "-")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "[\n{\"n\":3}\n]\n", out)

	// The root from a configuration file.
	cfg := filepath.Join(t.TempDir(), "sillage.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\n"), 0o644))
	code, out, errOut = runLake(t, "", "query", "-config.file", cfg, "-format", "csv", "select count(*) as n from events")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "n\n3\n", out)
}

func TestLakeQueryErrors(t *testing.T) {
	dataDir := smallLake(t)
	root := filepath.Join(dataDir, "lake")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", []string{}, 2, "want a subcommand: query or ddl"},
		{"unknown subcommand", []string{"drop"}, 2, "want a subcommand: query or ddl"},
		{"ddl without location", []string{"ddl"}, 2, "-location is required"},
		{"ddl unknown engine", []string{"ddl", "-engine", "hive", "-location", "s3://b"}, 2, `unknown engine "hive" (want athena, trino, spark)`},
		{"ddl unknown table", []string{"ddl", "-table", "x", "-location", "s3://b"}, 2, `unknown table "x"`},
		{"no SQL", []string{"query", "-sink.root", root}, 2, "want one SQL argument"},
		{"two SQL", []string{"query", "-sink.root", root, "select 1", "select 2"}, 2, "want one SQL argument (quote it; \"-\" reads it from standard input), got 2"},
		{"empty SQL", []string{"query", "-sink.root", root, "  "}, 2, "the SQL is empty"},
		{"bad format", []string{"query", "-format", "xml", "-sink.root", root, "select 1"}, 2, `-format: unknown format "xml" (want table, csv, json)`},
		{"unknown flag", []string{"query", "-sink.rot", root, "select 1"}, 2, "flag provided but not defined: -sink.rot"},
		{"missing table", []string{"query", "-sink.root", root, "select * from segments"}, 1,
			"table segments: no Parquet files under " + filepath.Join(root, "segments") + " yet (tables with files: events)"},
		{"SQL error", []string{"query", "-sink.root", root, "select nosuch from events"}, 1, "nosuch"},
		{"missing lake", []string{"query", "-data.dir", filepath.Join(dataDir, "nowhere"), "select 1"}, 1,
			"lake root " + filepath.Join(dataDir, "nowhere", "lake") + " does not exist"},
		{"S3 lake", []string{"query", "-sink.root", "s3://bucket/lake", "select 1"}, 1,
			"lake root s3://bucket/lake: lake query reads local lakes only: the DuckDB linked into sillage has no httpfs extension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runLake(t, "", tc.args...)
			require.Equal(t, tc.code, code, "stdout %q stderr %q", out, errOut)
			require.Contains(t, errOut, tc.stderr)
		})
	}
}

func TestLakeDDL(t *testing.T) {
	code, out, errOut := runLake(t, "", "ddl", "-engine", "trino", "-location", "s3://bucket/prefix/")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, 4, strings.Count(out, "CREATE TABLE hive.lake."), out)
	require.Contains(t, out, "CREATE TABLE hive.lake.events (\n  event_id varchar,\n")
	require.Contains(t, out, "external_location = 's3://bucket/prefix/corrections',")

	code, out, errOut = runLake(t, "", "ddl", "-table", "failed", "-location", "s3://b/p")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(out, "CREATE EXTERNAL TABLE failed (\n  `id` string,\n"), out)
	require.Contains(t, out, "  `payload` binary,\n")
	require.Contains(t, out, "LOCATION 's3://b/p/failed/'")
}
