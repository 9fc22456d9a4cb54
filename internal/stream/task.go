package stream

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicPartition names one input partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Task processes the records of one input partition. It is only ever called
// from one goroutine at a time.
type Task interface {
	// Process handles one input record. Records to produce are added to out.
	Process(ctx context.Context, rec *kgo.Record, out *Output) error
	// Tick is called after every polled batch and at least every
	// Config.TickInterval, with the wall-clock time: timers, time-based
	// flushes.
	Tick(ctx context.Context, now time.Time, out *Output) error
	// Close releases the task: its partition was revoked or lost, its
	// transaction aborted, or the runner is stopping.
	Close() error
}

// Durable is implemented by tasks whose effects are not Kafka records (the
// sink). The runner commits offsets only up to DurableOffset.
type Durable interface {
	// DurableOffset returns the offset of the next record whose effects are
	// not yet durable (i.e. everything below it is safe), or -1 if nothing
	// is durable yet.
	DurableOffset() int64
	// Flush makes everything processed so far durable. Called before the
	// partition is revoked and when the runner stops.
	Flush(ctx context.Context) error
}

// Committer is optionally implemented by Durable tasks that want to know
// which offset the runner committed (e.g. to delete recovery metadata).
type Committer interface {
	// Committed is called after offset (exclusive) was committed.
	Committed(ctx context.Context, offset int64)
}

// TaskFactory creates the task of one partition. stores holds the
// partition's restored state stores by name (Config.Stores).
type TaskFactory func(ctx context.Context, tp TopicPartition, stores map[string]*Store) (Task, error)

// Output collects the records a task produces during one batch.
type Output struct {
	records []*kgo.Record
}

// Produce queues a record for the current batch (and transaction). Records
// without a partition set are partitioned by key (Kafka's murmur2).
func (o *Output) Produce(r *kgo.Record) { o.records = append(o.records, r) }

// Len returns how many records are queued.
func (o *Output) Len() int { return len(o.records) }

func (o *Output) reset() { o.records = o.records[:0] }

// Records returns the records queued so far (for tests of tasks).
func (o *Output) Records() []*kgo.Record { return o.records }
