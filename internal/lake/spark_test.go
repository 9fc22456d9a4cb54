//go:build spark

package lake

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/sink"
)

// TestSparkReadsTheLake runs README's Spark recipe for real: Apache Spark
// (pyspark, local mode) creates the events table with the statements
// `sillage lake ddl -engine spark` prints, over a lake the sink wrote from
// the REES46 replay, and must count what DuckDB counts. Run by
// scripts/test-spark.sh (make test-spark), which installs pyspark and sets
// SILLAGE_TEST_SPARK_PYTHON.
func TestSparkReadsTheLake(t *testing.T) {
	python := os.Getenv("SILLAGE_TEST_SPARK_PYTHON")
	if python == "" {
		t.Fatal("SILLAGE_TEST_SPARK_PYTHON is not set: run scripts/test-spark.sh (make test-spark), which installs pyspark")
	}
	dir := writeREES46Lake(t)
	hrDirs, err := filepath.Glob(filepath.Join(dir, "events", "dt=*", "hr=*"))
	require.NoError(t, err)
	require.NotEmpty(t, hrDirs)
	// Hidden files, as a crash or another tool leaves them, are not read.
	require.NoError(t, os.WriteFile(filepath.Join(hrDirs[0], ".x-p0-0-9.parquet.tmp-123"), []byte("half a file"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(hrDirs[0], ".probe.parquet"), []byte("half a file"), 0o644))

	work := t.TempDir()
	location := "file://" + filepath.ToSlash(dir)
	ddl, err := DDL("spark", sink.TableEvents, location)
	require.NoError(t, err)
	ddlFile := filepath.Join(work, "events.sql")
	require.NoError(t, os.WriteFile(ddlFile, []byte(ddl), 0o644))
	out := filepath.Join(work, "out.json")
	script, err := filepath.Abs("testdata/spark_read.py")
	require.NoError(t, err)
	cmd := exec.Command(python, script, ddlFile, location+"/events", filepath.Join(work, "warehouse"), out)
	cmd.Dir = work // Spark's own files (metastore, logs) stay in the temporary folder
	cmd.Env = append(os.Environ(), "PYSPARK_PYTHON="+python)
	logs, err := cmd.CombinedOutput()
	require.NoError(t, err, "spark: %s", logs)

	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var got struct {
		Columns             [][]string     `json:"columns"`
		Rows                int            `json:"rows"`
		Events              int            `json:"events"`
		ByEvent             map[string]int `json:"by_event"`
		Revenue             float64        `json:"revenue"`
		ByHour              map[string]int `json:"by_hour"`
		First               string         `json:"first"`
		Currency            string         `json:"currency"`
		DataframeRows       int            `json:"dataframe_rows"`
		DataframePartitions [][]string     `json:"dataframe_partitions"`
	}
	require.NoError(t, json.Unmarshal(b, &got), string(b))

	cols, err := Columns("spark", sink.TableEvents)
	require.NoError(t, err)
	var want [][]string
	for _, c := range cols {
		want = append(want, []string{c.Name, strings.ToLower(c.Type)})
	}
	want = append(want, []string{"dt", "string"}, []string{"hr", "string"})
	require.Equal(t, want, got.Columns, "Spark's table has the recipe's columns and types")
	require.Equal(t, 17434, got.Rows)
	require.Equal(t, 17434, got.Events)
	require.Equal(t, map[string]int{"Product Viewed": 17055, "Product Added": 165, "Order Completed": 214}, got.ByEvent)
	require.Equal(t, 59442.63, got.Revenue)
	require.Equal(t, map[string]int{"2019-10-01/00": 1083, "2019-10-01/01": 121, "2019-10-01/02": 16230}, got.ByHour)
	require.Equal(t, "2019-10-01 00:00:00", got.First, "timestamps are UTC instants")
	require.Equal(t, "USD", got.Currency, "properties is JSON text")
	require.Equal(t, 17434, got.DataframeRows, "spark.read.parquet reads the same rows")
	require.Equal(t, [][]string{{"dt", "date"}, {"hr", "int"}}, got.DataframePartitions, "partition discovery types dt and hr")
}
