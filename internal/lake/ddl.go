package lake

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sillage/sillage/sink"
)

// Engines lists the query engines DDL writes a CREATE TABLE for.
var Engines = []string{"athena", "trino", "spark"}

// Schema returns the Parquet schema of a lake table: the one the sink
// writes its rows with.
func Schema(table string) (*parquet.Schema, error) {
	switch table {
	case sink.TableEvents:
		return parquet.SchemaOf(new(sink.EventRow)), nil
	case sink.TableSegments:
		return parquet.SchemaOf(new(sink.SegmentRow)), nil
	case sink.TableFailed:
		return parquet.SchemaOf(new(sink.FailedRow)), nil
	case sink.TableCorrections:
		return parquet.SchemaOf(new(sink.CorrectionRow)), nil
	}
	return nil, fmt.Errorf("unknown table %q (want %s)", table, strings.Join(sink.Tables, ", "))
}

// Column types per engine: Hive's (Athena), Trino's Hive connector's,
// Spark SQL's.
type engineTypes struct {
	boolean, int32, int64, timestamp, double, str, binary string
}

var types = map[string]engineTypes{
	"athena": {"boolean", "int", "bigint", "timestamp", "double", "string", "binary"},
	"trino":  {"boolean", "integer", "bigint", "timestamp(3)", "double", "varchar", "varbinary"},
	"spark":  {"BOOLEAN", "INT", "BIGINT", "TIMESTAMP", "DOUBLE", "STRING", "BINARY"},
}

// EngineColumn is a column of a table as an engine declares it.
type EngineColumn struct{ Name, Type string }

// Columns returns a table's columns (partition columns excluded) with
// their types in an engine's SQL, in the files' order.
func Columns(engine, table string) ([]EngineColumn, error) {
	ts, ok := types[engine]
	if !ok {
		return nil, fmt.Errorf("unknown engine %q (want %s)", engine, strings.Join(Engines, ", "))
	}
	schema, err := Schema(table)
	if err != nil {
		return nil, err
	}
	var cols []EngineColumn
	for _, f := range schema.Fields() {
		if !f.Leaf() || f.Repeated() {
			return nil, fmt.Errorf("table %s: column %s is not a flat column", table, f.Name())
		}
		var t string
		var lt format.LogicalTypeValue
		if l := f.Type().LogicalType(); l != nil {
			lt = l.Value
		}
		switch f.Type().Kind() {
		case parquet.Boolean:
			t = ts.boolean
		case parquet.Int32:
			t = ts.int32
		case parquet.Int64:
			t = ts.int64
			if _, ok := lt.(*format.TimestampType); ok {
				t = ts.timestamp
			}
		case parquet.Double:
			t = ts.double
		case parquet.ByteArray:
			t = ts.binary
			switch lt.(type) {
			case *format.StringType, *format.JsonType, *format.EnumType:
				t = ts.str
			}
		default:
			return nil, fmt.Errorf("table %s: column %s has Parquet type %s, which DDL does not map", table, f.Name(), f.Type())
		}
		cols = append(cols, EngineColumn{Name: f.Name(), Type: t})
	}
	return cols, nil
}

// DDL returns the statements that declare a lake table to an engine over
// the lake at location (e.g. s3://bucket/prefix): its columns as the sink
// writes them and the Hive partitions dt and hr, as strings
// ('2019-10-01', '08').
func DDL(engine, table, location string) (string, error) {
	cols, err := Columns(engine, table)
	if err != nil {
		return "", err
	}
	loc := strings.TrimSuffix(location, "/") + "/" + table
	var b strings.Builder
	colList := func(quote string, extra ...EngineColumn) {
		all := append(cols, extra...)
		for i, c := range all {
			sep := ","
			if i == len(all)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "  %s%s%s %s%s\n", quote, c.Name, quote, c.Type, sep)
		}
	}
	switch engine {
	case "athena":
		fmt.Fprintf(&b, "CREATE EXTERNAL TABLE %s (\n", table)
		colList("`")
		fmt.Fprintf(&b, `)
PARTITIONED BY (dt string, hr string)
STORED AS PARQUET
LOCATION '%[1]s/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2019-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hr.type' = 'integer',
  'projection.hr.range' = '0,23',
  'projection.hr.digits' = '2',
  'storage.location.template' = '%[1]s/dt=${dt}/hr=${hr}/'
);
`, loc)
	case "trino":
		fmt.Fprintf(&b, "CREATE TABLE hive.lake.%s (\n", table)
		colList("", EngineColumn{"dt", "varchar"}, EngineColumn{"hr", "varchar"})
		fmt.Fprintf(&b, `)
WITH (
  external_location = '%s',
  format = 'PARQUET',
  partitioned_by = ARRAY['dt', 'hr']
);
CALL hive.system.sync_partition_metadata('lake', '%s', 'ADD');
`, loc, table)
	case "spark":
		fmt.Fprintf(&b, "CREATE TABLE %s (\n", table)
		colList("`", EngineColumn{"dt", "STRING"}, EngineColumn{"hr", "STRING"})
		fmt.Fprintf(&b, `)
USING parquet
PARTITIONED BY (dt, hr)
LOCATION '%s';
MSCK REPAIR TABLE %s;
`, strings.Replace(loc, "s3://", "s3a://", 1), table)
	}
	return b.String(), nil
}
