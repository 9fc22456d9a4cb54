// Package stream is the partition-processing runner shared by the consuming
// stages. A stage supplies a TaskFactory; the runner joins a consumer group,
// creates one Task per assigned input partition, restores that partition's
// state stores from their compacted changelog topics, feeds the task its
// records and ticks, and commits.
//
// Two commit modes:
//
//   - Transactional (enricher, segmenter): each polled batch is processed in
//     one Kafka transaction holding the produced records, the changelog
//     records of every store write and the consumer offsets. Either all of it
//     becomes visible or none of it does; on abort (rebalance, fencing) the
//     tasks are rebuilt from their changelogs so in-memory state never runs
//     ahead of committed state. Outputs therefore appear exactly once to
//     read_committed consumers, across crashes and rebalances.
//   - Durable (sink): tasks implement Durable; the runner commits, per
//     partition, only the offset below which the task says its effects are
//     durable, and asks tasks to Flush before their partition is revoked.
//
// A Task error stops the runner (the stage's Run returns it); bad input is
// the task's to route to the failed topic, never an error.
package stream
