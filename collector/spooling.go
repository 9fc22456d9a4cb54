package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/collector/spool"
	"github.com/sillage/sillage/schemas"
)

// How the spool works with Kafka (see doc.go for the guarantees).
//
// Direct mode: a request's records are produced and the request waits up
// to Spool.After for Kafka's acknowledgement. If Kafka fails or is slower,
// the records are appended to the spool (fsynced), marked as attempted,
// and the client gets its 2xx; the collector switches to spool mode.
//
// Spool mode: every request's records are appended to the spool, so that
// the order of events is kept. The replayer, once Kafka answers and no
// record of direct mode is still unresolved in the producer, seals the
// spool's segments and replays them oldest first. Before producing a
// segment that may already be partly in Kafka (attempted records, or a
// segment whose replay began before, in this process or an earlier one)
// it reads the raw topic from a little before the segment's oldest record
// and skips the events already there: a produce whose acknowledgement was
// lost, or a slow broker that answered after the bound. A segment is
// removed once Kafka acknowledged all of its records. The last segment is
// replayed under the mode lock (requests wait for it), and the collector
// goes back to direct mode: nothing can be spooled after the last look.

// replayMargin is how long before a segment's oldest record the replay
// looks for events Kafka already has (records carry the time they were
// first produced; this covers clock steps and the producer's own delays).
const replayMargin = time.Minute

func (c *Collector) produceOrSpool(events []schemas.RawEvent, recs []kgo.Record) *apiError {
	start := time.Now()
	produced := start.UnixMilli()
	c.mode.RLock()
	if c.spooling.Load() {
		err := c.toSpool(events, recs, produced, false)
		c.mode.RUnlock()
		return err
	}
	// The records are produced under the read lock: once the replayer took
	// the write lock after spooling began, no direct produce can start.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Spool.After)
	a := c.send(ctx, recs)
	c.mode.RUnlock()
	err := a.wait(ctx)
	c.m.produceDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		cancel()
		c.reachable.Store(true)
		return nil
	}
	c.kafkaFailed(err)
	c.mode.RLock()
	if !c.spooling.Swap(true) {
		c.m.spoolSwitches.Inc()
	}
	aerr := c.toSpool(events, recs, produced, true)
	c.mode.RUnlock()
	// Only now may the unwritten records fail: the replayer waits until the
	// producer holds none before it looks at what Kafka has.
	cancel()
	return aerr
}

// toSpool appends the records to the spool; nil once they are fsynced.
// attempted says they were produced before.
func (c *Collector) toSpool(events []schemas.RawEvent, recs []kgo.Record, produced int64, attempted bool) *apiError {
	srecs := make([]spool.Record, len(recs))
	for i := range recs {
		srecs[i] = spool.Record{Key: recs[i].Key, Value: recs[i].Value, EventID: events[i].EventID,
			Produced: produced, Attempted: attempted}
	}
	err := c.spool.Append(srecs)
	switch {
	case err == nil:
		c.m.spooled.Add(float64(len(recs)))
		return nil
	case errors.Is(err, spool.ErrFull):
		return &apiError{status: fasthttp.StatusServiceUnavailable, reason: reasonSpoolFull, events: len(events),
			retryAfter: c.retryAfter(), detail: "Kafka is unavailable and the collector's spool is full: events not stored, retry later"}
	default:
		c.log.Error("spool append failed", "err", err)
		return &apiError{status: fasthttp.StatusServiceUnavailable, reason: reasonUnavailable, events: len(events),
			retryAfter: c.retryAfter(), detail: "Kafka is unavailable and the collector's spool cannot be written: events not stored, retry later"}
	}
}

// replayLoop replays the spool whenever it holds events and Kafka answers,
// until ctx ends.
func (c *Collector) replayLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ReadyProbeInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.spooling.Load() {
			continue
		}
		err := c.replay(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			c.log.Warn("spool replay waiting", "err", err)
			failing = true
		case err == nil && failing:
			failing = false
		}
	}
}

var errProducerBusy = errors.New("records produced before spooling are not resolved yet")

// replay replays every sealed segment and goes back to direct mode when
// the spool is empty.
func (c *Collector) replay(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyProbeInterval)
	err := c.prod.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("Kafka not reachable: %w", err)
	}
	// After this, no direct produce is between its mode check and its
	// Produce calls; the producer's records can only drain.
	c.mode.Lock()
	c.mode.Unlock() //nolint:staticcheck // an empty critical section is the point
	if n := c.prod.BufferedProduceRecords(); n > 0 {
		return fmt.Errorf("%w (%d)", errProducerBusy, n)
	}
	// The backlog, while requests keep being spooled.
	if err := c.replaySealed(ctx); err != nil {
		return err
	}
	// What was spooled meanwhile is replayed under the mode lock, so that
	// nothing is spooled after it: requests wait for it (a short backlog,
	// and mostly records never produced before, which need no look at
	// Kafka), then go to Kafka directly.
	c.mode.Lock()
	defer c.mode.Unlock()
	if err := c.replaySealed(ctx); err != nil {
		return err
	}
	c.spooling.Store(false)
	c.reachable.Store(true)
	c.log.Info("spool replayed; producing to Kafka directly again")
	return nil
}

// replaySealed seals the spool and replays its segments, oldest first.
func (c *Collector) replaySealed(ctx context.Context) error {
	segs, err := c.spool.Seal()
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if err := c.replaySegment(ctx, seg); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment produces the segment's records that Kafka does not have
// yet, in order, and removes the segment once all are acknowledged.
// Kafka is searched only when the records may be there: some had been
// produced before they were spooled, or the segment was being replayed
// before (by this process or an earlier one).
func (c *Collector) replaySegment(ctx context.Context, seg spool.Segment) error {
	recs, err := c.spool.Read(seg)
	if err != nil {
		return err
	}
	var have map[string]struct{}
	if seg.Attempted > 0 || seg.Recovered || c.replayTried[seg.Path] {
		want := make(map[string]struct{}, len(recs))
		for i := range recs {
			want[recs[i].EventID] = struct{}{}
		}
		if have, err = c.alreadyInKafka(ctx, seg.Oldest-replayMargin.Milliseconds(), want); err != nil {
			return fmt.Errorf("looking for already written events: %w", err)
		}
	}
	out := make([]kgo.Record, 0, len(recs))
	for i := range recs {
		if _, ok := have[recs[i].EventID]; ok {
			continue
		}
		out = append(out, kgo.Record{Topic: c.topic, Key: recs[i].Key, Value: recs[i].Value})
	}
	if len(out) > 0 {
		c.replayTried[seg.Path] = true
		pctx, cancel := context.WithTimeout(ctx, c.cfg.ProduceTimeout+time.Duration(len(out))*time.Millisecond)
		err := c.send(pctx, out).wait(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("replaying %s: %w", seg.Path, err)
		}
	}
	if err := c.spool.Remove(seg); err != nil {
		return err
	}
	delete(c.replayTried, seg.Path)
	c.m.replayed.Add(float64(len(out)))
	c.m.replaySkipped.Add(float64(len(recs) - len(out)))
	c.log.Debug("spool segment replayed", "segment", seg.Path, "produced", len(out), "already_in_kafka", len(recs)-len(out))
	return nil
}

// alreadyInKafka reads the raw topic from sinceMs to its end and returns
// which of the wanted event ids it holds.
func (c *Collector) alreadyInKafka(ctx context.Context, sinceMs int64, want map[string]struct{}) (map[string]struct{}, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(c.readerOpts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListOffsetsAfterMilli(ctx, sinceMs, c.topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, c.topic)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(starts.Error(), ends.Error()); err != nil {
		return nil, err
	}
	from := map[int32]kgo.Offset{}
	left := map[int32]int64{} // partition -> end offset still to reach
	starts.Each(func(o kadm.ListedOffset) {
		end, ok := ends.Lookup(c.topic, o.Partition)
		if ok && o.Offset < end.Offset {
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
			left[o.Partition] = end.Offset
		}
	})
	have := map[string]struct{}{}
	if len(from) == 0 {
		return have, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: from})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if id, err := schemas.PeekEventID(r.Value); err == nil {
				if _, ok := want[id]; ok {
					have[id] = struct{}{}
				}
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return have, nil
}
