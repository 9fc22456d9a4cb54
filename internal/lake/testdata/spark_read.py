"""Reads a lake with Apache Spark as README's Spark recipe says.

Usage: spark_read.py DDL_FILE EVENTS_LOCATION WAREHOUSE_DIR OUT_JSON

Runs the statements of DDL_FILE (`sillage lake ddl -engine spark`), then
queries the events table and reads EVENTS_LOCATION as a DataFrame; writes
what it found to OUT_JSON for the Go test to check.
"""
import json
import sys

from pyspark.sql import SparkSession

ddl_path, location, warehouse, out_path = sys.argv[1:5]
spark = (
    SparkSession.builder.master("local[1]")
    .appName("sillage-lake-recipe")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.warehouse.dir", warehouse)
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
with open(ddl_path) as f:
    for stmt in f.read().split(";"):
        if stmt.strip():
            spark.sql(stmt)

res = {
    "columns": [[c.name, c.dataType.simpleString()] for c in spark.table("events").schema.fields],
    "rows": spark.sql("SELECT count(*) FROM events").first()[0],
    "events": spark.sql("SELECT count(DISTINCT event_id) FROM events").first()[0],
    "by_event": {r[0]: r[1] for r in spark.sql("SELECT event, count(*) FROM events GROUP BY 1").collect()},
    "revenue": spark.sql(
        "SELECT round(sum(revenue), 2) FROM events WHERE event = 'Order Completed'"
    ).first()[0],
    "by_hour": {
        r[0] + "/" + r[1]: r[2]
        for r in spark.sql("SELECT dt, hr, count(*) FROM events GROUP BY 1, 2").collect()
    },
    "first": spark.sql(
        "SELECT date_format(min(event_time), 'yyyy-MM-dd HH:mm:ss') FROM events"
    ).first()[0],
    "currency": spark.sql(
        "SELECT get_json_object(properties, '$.currency') FROM events LIMIT 1"
    ).first()[0],
    "dataframe_rows": spark.read.parquet(location).count(),
    "dataframe_partitions": [
        [c.name, c.dataType.simpleString()]
        for c in spark.read.parquet(location).schema.fields
        if c.name in ("dt", "hr")
    ],
}
with open(out_path, "w") as f:
    json.dump(res, f)
spark.stop()
