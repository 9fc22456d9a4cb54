package lake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/sink"
)

// duckTypes is what DuckDB reads each engine type as: the DDL must declare
// every column with the type its files hold.
var duckTypes = map[string]map[string]string{
	"athena": {"boolean": "BOOLEAN", "int": "INTEGER", "bigint": "BIGINT", "timestamp": "TIMESTAMP WITH TIME ZONE",
		"double": "DOUBLE", "string": "VARCHAR", "binary": "BLOB"},
	"trino": {"boolean": "BOOLEAN", "integer": "INTEGER", "bigint": "BIGINT", "timestamp(3)": "TIMESTAMP WITH TIME ZONE",
		"double": "DOUBLE", "varchar": "VARCHAR", "varbinary": "BLOB"},
	"spark": {"BOOLEAN": "BOOLEAN", "INT": "INTEGER", "BIGINT": "BIGINT", "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
		"DOUBLE": "DOUBLE", "STRING": "VARCHAR", "BINARY": "BLOB"},
}

// describe returns DuckDB's view of a table's columns (name and type),
// the partition columns included.
func describe(t *testing.T, l *Lake, table string) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range query(t, l, "select column_name, column_type from (describe "+table+")") {
		out = append(out, r)
	}
	return out
}

// writeOne writes a one-row file of each table the sink did not fill, with
// the row types the sink writes.
func writeOne[T any](t *testing.T, dir, table string, row T) {
	t.Helper()
	p := filepath.Join(dir, table, "dt=2019-10-01", "hr=00", "x-p0-0-0.parquet")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, parquet.WriteFile(p, []T{row}))
}

// TestDDLMatchesTheFiles checks, for every engine and table, that the
// generated DDL declares exactly the columns of the lake's files, in
// their order, with matching types, as DuckDB reads them from files the
// sink wrote (events: the REES46 replay).
func TestDDLMatchesTheFiles(t *testing.T) {
	dir := writeREES46Lake(t)
	writeOne(t, dir, sink.TableSegments, sink.SegmentRow{ID: "s"})
	writeOne(t, dir, sink.TableFailed, sink.FailedRow{ID: "f", Payload: []byte{1}})
	writeOne(t, dir, sink.TableCorrections, sink.CorrectionRow{ID: "c"})
	l, err := Open(context.Background(), dir)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, sink.Tables, l.Tables())
	for _, table := range sink.Tables {
		files := describe(t, l, table)
		require.Equal(t, []string{"dt", "DATE"}, files[len(files)-2])
		require.Equal(t, []string{"hr", "INTEGER"}, files[len(files)-1])
		files = files[:len(files)-2]
		for _, f := range files {
			if f[1] == "JSON" { // properties, traits, context: JSON text, a string to the engines
				f[1] = "VARCHAR"
			}
		}
		for _, engine := range Engines {
			cols, err := Columns(engine, table)
			require.NoError(t, err)
			var got [][]string
			for _, c := range cols {
				got = append(got, []string{c.Name, duckTypes[engine][c.Type]})
			}
			require.Equal(t, files, got, "%s DDL of %s", engine, table)
			ddl, err := DDL(engine, table, "s3://bucket/prefix")
			require.NoError(t, err)
			for _, c := range cols {
				require.Contains(t, ddl, c.Name, "%s DDL of %s", engine, table)
			}
		}
	}
	_, err = Columns("hive", "events")
	require.ErrorContains(t, err, `unknown engine "hive" (want athena, trino, spark)`)
	_, err = DDL("trino", "sessions", "s3://b")
	require.ErrorContains(t, err, `unknown table "sessions" (want events, segments, failed, corrections)`)
}

// TestREADMERecipe checks README's "Reading the lake" recipe against DDL:
// the Athena statement for the events table is there in full (a column
// added to sink.EventRow without updating the README fails here), the
// Trino and Spark ones with their first and partition columns and all
// that follows.
func TestREADMERecipe(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(b)
	start := strings.Index(readme, "\n## Reading the lake\n")
	require.GreaterOrEqual(t, start, 0, "README has a \"Reading the lake\" section")
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	hint := "update README from `sillage lake ddl -engine %s -location s3://bucket/prefix -table events`"
	for _, engine := range Engines {
		ddl, err := DDL(engine, sink.TableEvents, "s3://bucket/prefix")
		require.NoError(t, err)
		if engine == "athena" {
			require.Contains(t, section, "```sql\n"+ddl+"```", hint, engine)
			continue
		}
		cols, err := Columns(engine, sink.TableEvents)
		require.NoError(t, err)
		lines := strings.SplitAfter(ddl, "\n")
		require.Contains(t, section, "```sql\n"+lines[0]+lines[1], hint, engine)
		require.Equal(t, cols[0].Name, strings.Trim(strings.Fields(lines[1])[0], "`"))
		tail := strings.Join(lines[1+len(cols):], "")
		require.True(t, strings.HasPrefix(strings.TrimSpace(lines[1+len(cols)]), "dt") || strings.HasPrefix(strings.TrimSpace(lines[1+len(cols)]), "`dt`"))
		require.Contains(t, section, "  -- … every column, as `sillage lake ddl -engine "+engine+"` prints them …\n"+tail+"```", hint, engine)
	}
	require.Contains(t, section, "sillage lake query")
}
