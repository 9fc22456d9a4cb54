// Package sink writes the enriched events, the segment membership
// transitions and the failed events to the Parquet lake:
//
//	<root>/<table>/dt=YYYY-MM-DD/hr=HH/<topic>-p<partition>-<first>-<last>.parquet
//
// with tables events, segments and failed, partitioned by the UTC hour of
// each row's event time (late events go to the partition of their event
// time, so one batch may write several files). Columns are snake_case as in
// Segment's warehouse schemas (see EventRow, SegmentRow, FailedRow); files
// are zstd-compressed by default.
//
// The sink runs on the shared stream runner in its Durable mode: one task per
// input partition buffers decoded rows and rolls them into files when the
// batch reaches Config.MaxRows or Config.MaxBytes, spans
// Config.MaxPartitions hours, is Config.MaxAge old, or is flushed (before a
// partition is revoked, at stop).
//
// Guarantees:
//
//   - Durable before committed. Each file is written to a temporary file in
//     its directory, fsynced, renamed and the directory fsynced; an S3 object
//     is one PUT or one completed multipart upload (ObjectStore.Put);
//     DurableOffset moves past a batch only once all its files are stored, and
//     the runner commits no further.
//   - Exactly once in the lake. File names depend only on the topic,
//     partition and offsets of the rows they hold. Before its files, a batch
//     stores a manifest of its offset range (_sillage/manifests/…); a task
//     resuming from a committed offset cuts its batches at the recorded
//     boundaries, so records re-read after a crash overwrite the same files
//     with the same rows instead of adding new ones. Manifests below the
//     committed offset are removed when a task starts, when Committed is
//     called, and after Config.ManifestRetention.
//   - Nothing vanishes. A record that cannot be decoded becomes a row of the
//     failed table (stage "sink", reason, the payload as received), counted in
//     sillage_sink_decode_failures_total.
//
// Object stores: the local folder (a path or file:// URL, the embedded
// default) and S3 (s3://bucket/prefix?endpoint=…, see ParseS3URL) through
// minio-go, with multipart uploads above the part size. OpenStore checks an
// S3 bucket at start (HeadBucket) and names the bucket and endpoint when it
// is missing or unreachable.
//
// Outages: a failed object store operation (a write, the manifest listing of
// a new task) is retried with a backoff doubling up to
// Config.RetryMaxBackoff, by default until it succeeds. The task stays
// blocked meanwhile, and with it the runner's loop: nothing is polled or
// committed, memory stays bounded by the open batches, /readyz reports the
// "lake" check not ready and sillage_sink_store_up is 0. When the store is
// back the same batch is written (same names) and the sink goes on without
// loss or duplicate. A stop (SIGTERM) during an outage ends the retries; the
// runner's final flush tries for up to 30 s more, then the process exits
// with the unwritten batches uncommitted (re-read at restart). With
// Config.WriteRetries >= 0 the task instead fails after that many retries,
// which stops the runner with nothing further committed (for an orchestrator
// that restarts the process). An outage longer than the group's rebalance
// timeout while another instance joins costs this instance its partitions
// (the other one re-reads from the last commit; nothing is lost). A schema
// registry that stays unreachable is retried the same way.
//
// Leftovers of a crash: a process killed during an upload leaves an S3
// multipart upload in progress (its parts stored, and billed, but no
// object) or, in a local lake, a hidden temporary file. Neither is ever
// seen by readers. When a task starts on a partition it removes those of
// the partition's own files (IncompleteCleaner: the uploads are aborted),
// logs them and counts them in sillage_sink_incomplete_uploads_removed_total;
// the batch is then written again under the same name.
//
// Compaction (Compact; in the sink with Config.CompactAfter) merges the
// small files of closed hour partitions into one file per table, hour and
// input partition, named after the offset range it covers; readers of this
// package skip the files a merged file supersedes, so a compaction
// interrupted between writing the merged file and deleting the originals
// never makes them count a row twice (see compact.go).
//
// Limits: a resume in the middle of a batch (records deleted by retention,
// offsets moved by hand) can duplicate that batch's rows and is logged; a
// partition owned by two instances at once (a zombie after a lost session)
// can too.
package sink
