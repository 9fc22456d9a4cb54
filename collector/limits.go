package collector

import (
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"
)

// newLimiter builds a source's token bucket; nil when it has no limit.
func newLimiter(r RateLimit) *rate.Limiter {
	if r.EventsPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r.EventsPerSecond), r.burst())
}

// takeTokens takes n events' tokens (at most the bucket's size) from the
// source's bucket, or refuses them all with 429 and the whole seconds to
// wait before they would be available.
func (c *Collector) takeTokens(src *Source, n int) *apiError {
	lim := c.limiters[src.Name]
	if lim == nil {
		return nil
	}
	k := min(n, lim.Burst())
	now := time.Now()
	r := lim.ReserveN(now, k)
	delay := r.DelayFrom(now)
	if r.OK() && delay == 0 {
		return nil
	}
	r.CancelAt(now)
	secs := max(1, int(math.Ceil(delay.Seconds())))
	return &apiError{status: fasthttp.StatusTooManyRequests, reason: reasonRateLimited, events: n,
		retryAfter: strconv.Itoa(secs),
		detail: "source " + src.Name + " is limited to " + strconv.FormatFloat(float64(lim.Limit()), 'g', -1, 64) +
			" events/s (burst " + strconv.Itoa(lim.Burst()) + "), retry in " + strconv.Itoa(secs) + "s"}
}

// enter counts an event request in; it returns false, after answering 503,
// when MaxConcurrentRequests are already being handled. A true return must
// be followed by leave.
func (c *Collector) enter(ctx *fasthttp.RequestCtx, pixel bool) bool {
	if c.inflight.Add(1) <= int64(c.cfg.MaxConcurrentRequests) {
		return true
	}
	c.inflight.Add(-1)
	e := &apiError{status: fasthttp.StatusServiceUnavailable, reason: reasonOverloaded, retryAfter: "1",
		detail: "too many requests in progress (" + strconv.Itoa(c.cfg.MaxConcurrentRequests) + "), retry shortly"}
	if pixel {
		c.refusePixel(ctx, e)
	} else {
		c.refuse(ctx, e)
	}
	return false
}

func (c *Collector) leave() { c.inflight.Add(-1) }
