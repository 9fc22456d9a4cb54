package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
)

// restore reads a store's changelog partition from its start to its end
// and applies the committed writes. It reads uncommitted and resolves
// transactions itself from their control records: a broker's last stable
// offset can sit behind data of a transaction that will never get a marker
// (a producer killed mid-transaction, which the broker aborts only when its
// transactional id comes back or on timeout), so waiting for read_committed
// to reach an end offset could wait for the transaction timeout in the
// common case.
//
// A transaction still open at the end is not necessarily dead, though: in
// a rebalance the partition's previous owner (another instance, another
// transactional id, so not fenced by this one) may still be ending its last
// batch, and commit it together with the input offsets this task will
// start from. Its writes must then be applied, or the state would miss that
// batch for good. So restore goes on reading past the end until every open
// transaction got its marker (commit: applied; abort: dropped) or a newer
// epoch of its producer shows it was aborted, until resolveBy (the runner allows resolveWait for a whole
// assignment); one still open then is treated as aborted (its producer is gone and the
// coordinator will abort it at its timeout), which is logged by the caller
// through the returned count of unresolved transactions.
func restore(ctx context.Context, kcfg kafka.Config, s *Store, resolveBy time.Time) (applied int, unresolved int, err error) {
	cl, err := kgo.NewClient(append(kcfg.Opts("restore"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {s.partition: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	end, err := changelogEnd(ctx, adm, s.topic, s.partition)
	if err != nil {
		return 0, 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, s.topic)
	if err != nil {
		return 0, 0, fmt.Errorf("listing start of %s: %w", s.topic, err)
	}
	if st, ok := starts.Lookup(s.topic, s.partition); ok && st.Err == nil && st.Offset >= end.Offset {
		return 0, 0, nil
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
	// settled: the broker holds no open transaction in the partition any
	// more (its last stable offset reached its end), so after reading to
	// that end, a transaction still without a marker was aborted by the
	// broker without one (the embedded broker does that after a crash).
	settled := false
	for next < end.Offset || (len(open) > 0 && !settled) {
		wait := 30 * time.Second
		if next >= end.Offset {
			// Past the end: only open transactions' markers are awaited.
			if wait = time.Until(resolveBy); wait <= 0 {
				break
			}
			if hwm, ok := noOpenTransaction(ctx, adm, s.topic, s.partition); ok {
				settled = true
				end.Offset = max(end.Offset, hwm)
				continue
			}
			wait = min(wait, time.Second)
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return n, 0, ctx.Err()
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if ferr == nil {
				ferr = err
			}
		})
		if ferr != nil && !kerr.IsRetriable(ferr) && !errors.Is(ferr, context.DeadlineExceeded) {
			return n, 0, fmt.Errorf("reading %s/%d (at %d of %d): %w", s.topic, s.partition, next, end.Offset, ferr)
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
	if settled {
		return n, 0, nil
	}
	return n, len(open), nil
}

// noOpenTransaction reports whether the partition's last stable offset has
// reached its high watermark (no transaction is open in it), and returns
// that high watermark.
func noOpenTransaction(ctx context.Context, adm *kadm.Client, topic string, partition int32) (int64, bool) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, false
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, false
	}
	hwm, ok1 := ends.Lookup(topic, partition)
	lso, ok2 := stable.Lookup(topic, partition)
	if !ok1 || !ok2 || hwm.Err != nil || lso.Err != nil || lso.Offset < hwm.Offset {
		return 0, false
	}
	return hwm.Offset, true
}

// resolveWait bounds how long restore waits, past the changelog's end, for
// the markers of transactions still open there: longer than the
// transaction timeout, after which the coordinator aborts a dead
// producer's transaction and writes the marker itself.
var resolveWait = transactionTimeout + 15*time.Second

// changelogEnd returns the end offset of a changelog partition. A topic
// created moments ago may not be in every broker's metadata yet (the
// partition is missing, or its leader not yet known): that is retried for
// up to changelogWait before it is an error.
func changelogEnd(ctx context.Context, adm *kadm.Client, topic string, partition int32) (kadm.ListedOffset, error) {
	deadline := time.Now().Add(changelogWait)
	backoff := 50 * time.Millisecond
	for {
		var problem error
		ends, err := adm.ListEndOffsets(ctx, topic)
		switch end, ok := ends.Lookup(topic, partition); {
		case err != nil:
			problem = fmt.Errorf("listing end of %s: %w", topic, err)
		case !ok:
			problem = fmt.Errorf("changelog %s has no partition %d", topic, partition)
		case end.Err != nil:
			problem = fmt.Errorf("end of %s/%d: %w", topic, partition, end.Err)
			if !kerr.IsRetriable(end.Err) {
				return end, problem
			}
		default:
			return end, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return kadm.ListedOffset{}, problem
		}
		select {
		case <-ctx.Done():
			return kadm.ListedOffset{}, problem
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// changelogWait bounds how long a changelog partition missing from the
// metadata (a topic just created) is waited for.
var changelogWait = 30 * time.Second

// isCommitMarker reads a control record's key: version (int16), type
// (int16: 0 abort, 1 commit).
func isCommitMarker(r *kgo.Record) bool {
	return len(r.Key) >= 4 && r.Key[2] == 0 && r.Key[3] == 1
}
