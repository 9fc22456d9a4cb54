package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/schemas"
)

var errProduceTimeout = errors.New("Kafka did not acknowledge in time")

// acks counts a request's outstanding acknowledgements. It is not reused:
// promises may fire after the request gave up waiting.
type acks struct {
	pending atomic.Int64
	err     atomic.Pointer[error]
	done    chan struct{}
}

func (a *acks) promise(_ *kgo.Record, err error) {
	if err != nil {
		a.err.CompareAndSwap(nil, &err)
	}
	if a.pending.Add(-1) == 0 {
		close(a.done)
	}
}

// wait returns nil once every record was acknowledged, the first error,
// or errProduceTimeout when ctx ends first.
func (a *acks) wait(ctx context.Context) error {
	select {
	case <-a.done:
		if p := a.err.Load(); p != nil {
			return *p
		}
		return nil
	case <-ctx.Done():
		return errProduceTimeout
	}
}

// send produces the records; cancelling ctx fails those not yet written
// to a broker.
func (c *Collector) send(ctx context.Context, recs []kgo.Record) *acks {
	a := &acks{done: make(chan struct{})}
	a.pending.Store(int64(len(recs)))
	for i := range recs {
		c.prod.Produce(ctx, &recs[i], a.promise)
	}
	return a
}

// produce encodes the events and makes them durable: acknowledged by
// Kafka, or, when Kafka fails or is slower than the spool bound, fsynced
// to the spool. Only a nil return means every event is durable.
func (c *Collector) produce(events []schemas.RawEvent) *apiError {
	recs := make([]kgo.Record, len(events))
	for i := range events {
		v, err := c.serde.Encode(schemas.KindRaw, &events[i], nil)
		if err != nil {
			return &apiError{status: fasthttp.StatusBadRequest, reason: reasonEncode, events: len(events),
				detail: fmt.Sprintf("event %d (messageId %q) cannot be encoded: %v", i, events[i].EventID, err)}
		}
		recs[i] = kgo.Record{Topic: c.topic, Key: []byte(events[i].Key()), Value: v}
	}
	if c.spool != nil {
		return c.produceOrSpool(events, recs)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ProduceTimeout)
	// Cancelling fails the records not yet written to a broker, so that a
	// request answered 503 leaves as little as possible behind.
	defer cancel()
	err := c.send(ctx, recs).wait(ctx)
	c.m.produceDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		c.kafkaFailed(err)
		return &apiError{status: fasthttp.StatusServiceUnavailable, reason: reasonUnavailable, events: len(events),
			retryAfter: c.retryAfter(), detail: "events not stored, retry later: " + err.Error()}
	}
	c.reachable.Store(true)
	return nil
}

// kafkaFailed marks Kafka unreachable, logging the change once.
func (c *Collector) kafkaFailed(err error) {
	if c.reachable.Swap(false) {
		what := "answering 503 and failing /readyz"
		if c.spool != nil {
			what = "spooling events to " + c.cfg.Spool.Dir
		}
		c.log.Warn("producing to Kafka failed; "+what+" until Kafka answers again", "topic", c.topic, "err", err)
	}
}

func (c *Collector) retryAfter() string {
	return strconv.Itoa(int((c.cfg.RetryAfter + time.Second - 1) / time.Second))
}
