// Package lake is the small read side of the Parquet lake the sink writes:
// SQL over the lake's tables with DuckDB (github.com/duckdb/duckdb-go/v2,
// linked statically through cgo), behind `sillage lake query`.
//
// Open makes one view per table of the lake (events, segments, failed,
// corrections) over
//
//	read_parquet('<root>/<table>/**/[!._]*.parquet', hive_partitioning = true, …)
//
// so the Hive partitions dt (DATE) and hr (INTEGER) are columns too. Only
// files ending in .parquet whose name starts with neither "." nor "_" are
// read (DuckDB's globs match hidden files): never the hidden temporary
// files a crashed write may leave (".name.tmp-*"), nor the sink's
// _sillage/ manifests, which are outside the tables anyway. A table without files gets no view; a query naming it fails with
// an error saying that the table has no files yet (ErrNoFiles).
//
// Limits: the lake must be a local folder (a path or a file:// URL). The
// DuckDB libraries linked in carry the parquet, json and icu extensions but
// not httpfs, and this build never downloads extensions, so s3:// roots are
// refused with an error that says how to read them (README, "Reading the
// lake"). The table output format buffers the whole result to align it;
// csv and json stream.
package lake
