package segmenter

import (
	"math"
	"sync"
	"time"
)

// noTime is the watermark before any event was seen: no timer is due.
const noTime int64 = math.MinInt64

// eventClock is the instance-wide view of event time, shared by the tasks
// of one Segmenter.
type eventClock struct {
	lateness, quiet, idle int64 // ms

	mu          sync.Mutex
	maxEvent    int64     // newest event time seen (capped at the wall clock)
	lastArrival time.Time // wall-clock time of the last record
	lag         int64     // lastArrival - maxEvent when it arrived, ms
}

func newEventClock(cfg Config, now time.Time) *eventClock {
	return &eventClock{
		lateness:    cfg.AllowedLateness.Milliseconds(),
		quiet:       cfg.QuietPeriod.Milliseconds(),
		idle:        cfg.IdleTimeout.Milliseconds(),
		maxEvent:    noTime,
		lastArrival: now,
	}
}

func (c *eventClock) observe(eventTime int64, now time.Time) {
	c.mu.Lock()
	if eventTime > c.maxEvent {
		c.maxEvent = eventTime
	}
	c.lastArrival = now
	c.lag = now.UnixMilli() - c.maxEvent
	c.mu.Unlock()
}

// restore raises the instance clock to a restored partition's newest event
// time (and that event's lag behind the wall clock). The silence is counted
// from the restart (lastArrival), which delays the idle watermark by the
// downtime at most.
func (c *eventClock) restore(maxEvent, lag int64) {
	c.mu.Lock()
	if maxEvent > c.maxEvent {
		c.maxEvent = maxEvent
		c.lag = lag
	}
	c.mu.Unlock()
}

// idleWatermark is the watermark a live stream reaches by the wall clock
// after IdleTimeout of silence: the newest event time plus the silence, at
// most now. A stream whose newest event was already older than IdleTimeout
// when it arrived (a replay of old data) is not live and gets none.
func (c *eventClock) snapshot(now time.Time) (maxEvent, idleWM int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	idleWM = noTime
	silent := now.Sub(c.lastArrival).Milliseconds()
	if c.maxEvent != noTime && silent >= c.idle && c.lag <= c.idle {
		idleWM = min(c.maxEvent+silent, now.UnixMilli())
	}
	return c.maxEvent, idleWM
}

// partitionClock is one partition's watermark: the event time up to which
// the partition is taken as complete, so timers due at or before it fire.
// It is the largest of:
//
//   - the partition's newest event time minus AllowedLateness (records are
//     flowing: tolerate that much disorder);
//   - the instance's newest event time, once the partition has had no
//     record for QuietPeriod (it is caught up, and others show how far
//     time went);
//   - the idle watermark of a live stream (see eventClock.snapshot).
//
// It never goes back.
type partitionClock struct {
	inst        *eventClock
	maxEvent    int64
	lastArrival time.Time
	arrivalMs   int64 // wall clock (ms) when maxEvent arrived
	wm          int64
}

// restore resumes the clock of a partition restored from its store: its
// newest event time, and how far behind the wall clock that event was when
// it arrived (lag), so that after a restart the quiet and idle rules move
// the watermark — and fire the timers due — without waiting for an event.
func (p *partitionClock) restore(maxEvent, lag int64) {
	if maxEvent > p.maxEvent {
		p.maxEvent = maxEvent
		p.arrivalMs = maxEvent + lag
	}
	p.inst.restore(maxEvent, lag)
}

func newPartitionClock(inst *eventClock, now time.Time) *partitionClock {
	return &partitionClock{inst: inst, maxEvent: noTime, lastArrival: now, wm: noTime}
}

// observe records an event and says whether it was late (older than the
// watermark already reached).
func (p *partitionClock) observe(eventTime int64, now time.Time) (late bool) {
	eventTime = min(eventTime, now.UnixMilli()) // a clock in the future must not fire timers
	late = eventTime < p.wm
	if eventTime > p.maxEvent {
		p.maxEvent = eventTime
		p.arrivalMs = now.UnixMilli()
	}
	p.lastArrival = now
	p.inst.observe(eventTime, now)
	return late
}

func (p *partitionClock) watermark(now time.Time) int64 {
	instMax, idleWM := p.inst.snapshot(now)
	w := noTime
	if p.maxEvent != noTime {
		w = p.maxEvent - p.inst.lateness
	}
	if now.Sub(p.lastArrival).Milliseconds() >= p.inst.quiet {
		w = max(w, instMax)
	}
	w = max(w, idleWM)
	p.wm = max(p.wm, w)
	return p.wm
}
