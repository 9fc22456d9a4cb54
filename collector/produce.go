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

// produce encodes every event, produces them all to the raw topic and waits
// until Kafka acknowledged every one, or one failed, or ProduceTimeout
// passed. Only a nil return means every event is durably in Kafka.
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

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ProduceTimeout)
	// Cancelling fails the records not yet written to a broker, so that a
	// request answered 503 leaves as little as possible behind.
	defer cancel()
	a := &acks{done: make(chan struct{})}
	a.pending.Store(int64(len(recs)))
	for i := range recs {
		c.prod.Produce(ctx, &recs[i], a.promise)
	}
	var err error
	select {
	case <-a.done:
		if p := a.err.Load(); p != nil {
			err = *p
		}
	case <-ctx.Done():
		err = errProduceTimeout
	}
	c.m.produceDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if c.reachable.Swap(false) {
			c.log.Warn("producing to Kafka failed; answering 503 and failing /readyz until Kafka answers again",
				"topic", c.topic, "err", err)
		}
		return &apiError{status: fasthttp.StatusServiceUnavailable, reason: reasonUnavailable, events: len(events),
			retryAfter: c.retryAfter(), detail: "events not stored, retry later: " + err.Error()}
	}
	c.reachable.Store(true)
	return nil
}

func (c *Collector) retryAfter() string {
	return strconv.Itoa(int((c.cfg.RetryAfter + time.Second - 1) / time.Second))
}
