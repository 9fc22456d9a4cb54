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

// restore reads a store's changelog partition from its start up to the last
// stable offset, read_committed, and applies it. It returns the number of
// records applied.
func restore(ctx context.Context, kcfg kafka.Config, s *Store) (int, error) {
	cl, err := kgo.NewClient(append(kcfg.Opts("restore"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {s.partition: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, s.topic)
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
			return n, fmt.Errorf("reading %s/%d: %w", s.topic, s.partition, ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			s.apply(r)
			n++
		})
	}
	return n, nil
}
