// Package spool is the collector's local safety net: an append-only log of
// Kafka records, fsynced before Append returns, used while Kafka is
// unreachable or slow so that the collector can still acknowledge events.
//
// Guarantees. A record whose Append returned nil is on disk (the segment
// file and its directory entry are fsynced) and is returned by Read after a
// crash of the process or the machine. Records are read back in the order
// they were appended. Concurrent Appends share one fsync (group commit).
// The spool never grows past Options.MaxBytes: Append returns ErrFull
// instead. One process at a time: Open takes an exclusive flock on the
// directory.
//
// Failure. Each record is framed with its length and a CRC-32C. A crash in
// the middle of a write leaves a torn frame that was never acknowledged;
// Open cuts it off and keeps every record before it. A failed write or
// fsync poisons the spool: every later Append returns that error (the
// collector then answers 503), because a frame after a torn one would be
// unreachable.
//
// Replay. Seal closes the active segment and lists the sealed ones, oldest
// first; the replayer reads one, produces its records, and Removes it once
// Kafka acknowledged them all. Deduplication against what already reached
// Kafka is the replayer's job (see the collector package).
//
// A hand-written log rather than a library: the WAL libraries at hand
// (tidwall/wal and the like) refuse to open a log whose last entry is torn,
// which is exactly what kill -9 leaves behind.
package spool
