package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
)

// restore reads a store's changelog partition from its start to its end
// and applies the committed writes. It reads uncommitted and resolves
// transactions itself from their control records: a brokers' last stable
// offset can sit behind data of a transaction that will never get a marker
// (a producer killed mid-transaction, which the broker aborts implicitly or
// on timeout), so waiting for read_committed to reach an end offset could
// wait forever. Writes of a transaction without a commit marker at the end
// are not applied: nobody can commit them any more, since the partition's
// task is here now and its producer fences the previous one. It returns
// the number of records applied.
func restore(ctx context.Context, kcfg kafka.Config, s *Store) (int, error) {
	cl, err := kgo.NewClient(append(kcfg.Opts("restore"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {s.partition: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, s.topic)
	if err != nil {
		return 0, fmt.Errorf("listing end of %s: %w", s.topic, err)
	}
	end, ok := ends.Lookup(s.topic, s.partition)
	if !ok {
		return 0, fmt.Errorf("changelog %s has no partition %d", s.topic, s.partition)
	}
	if end.Err != nil {
		return 0, fmt.Errorf("end of %s/%d: %w", s.topic, s.partition, end.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, s.topic)
	if err != nil {
		return 0, fmt.Errorf("listing start of %s: %w", s.topic, err)
	}
	if st, ok := starts.Lookup(s.topic, s.partition); ok && st.Err == nil && st.Offset >= end.Offset {
		return 0, nil
	}
	n := 0
	next := int64(0)
	// Writes of each producer's open transaction. Data of a producer id
	// with a higher epoch than its open transaction's (it came back after a
	// crash with the same transactional id) means that transaction was
	// aborted, whether or not an abort marker was written: its writes are
	// dropped.
	type txn struct {
		epoch  int16
		writes []*kgo.Record
	}
	open := map[int64]*txn{}
	for next < end.Offset {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if ferr == nil {
				ferr = err
			}
		})
		if ferr != nil && !kerr.IsRetriable(ferr) {
			return n, fmt.Errorf("reading %s/%d (at %d of %d): %w", s.topic, s.partition, next, end.Offset, ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			switch {
			case r.Attrs.IsControl():
				// With transactions v2 (KIP-890, Kafka 4) the marker carries
				// the epoch bumped at the end of the transaction.
				if t := open[r.ProducerID]; t != nil && r.ProducerEpoch >= t.epoch && isCommitMarker(r) {
					for _, w := range t.writes {
						s.apply(w)
						n++
					}
				}
				delete(open, r.ProducerID)
			case r.Attrs.IsTransactional():
				t := open[r.ProducerID]
				if t == nil || r.ProducerEpoch > t.epoch {
					t = &txn{epoch: r.ProducerEpoch}
					open[r.ProducerID] = t
				}
				t.writes = append(t.writes, r)
			default:
				s.apply(r)
				n++
			}
		})
	}
	return n, nil
}

// isCommitMarker reads a control record's key: version (int16), type
// (int16: 0 abort, 1 commit).
func isCommitMarker(r *kgo.Record) bool {
	return len(r.Key) >= 4 && r.Key[2] == 0 && r.Key[3] == 1
}
