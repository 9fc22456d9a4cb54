package segmenter

import (
	"cel.dev/cel-go/interpreter"

	"github.com/sillage/sillage/schemas"
)

// evalCtx evaluates the predicates of the definitions against one event,
// each at most once however many segments use it (except those reading
// profile.segments, which change as the event's segments are decided).
type evalCtx struct {
	defs      *Definitions
	raw       *schemas.EnrichedEvent
	parsed    needs // the JSON members of ev parsed so far
	ev        Event
	prof      Profile
	eventTime int64
	results   []int8 // per predicate: 0 not evaluated, 1 true, 2 false
	// members is reused for profile.segments from one event to the next.
	members map[string]bool
	onError func(p *predicate, err error)
}

func newEvalCtx(defs *Definitions, onError func(*predicate, error)) *evalCtx {
	return &evalCtx{defs: defs, results: make([]int8, len(defs.preds)), onError: onError}
}

// reset prepares the context for a new event.
func (c *evalCtx) reset(e *schemas.EnrichedEvent) {
	fillEvent(&c.ev, e)
	c.raw, c.parsed = e, needs{}
	c.eventTime = e.EventTime
	c.prof = Profile{}
	clear(c.results)
}

// match evaluates predicate i (-1: none, false).
func (c *evalCtx) match(i int) bool {
	if i < 0 {
		return false
	}
	switch c.results[i] {
	case 1:
		return true
	case 2:
		return false
	}
	p := c.defs.preds[i]
	parseMembers(&c.ev, c.raw, p.needs, &c.parsed)
	ok, err := p.eval(c)
	if err != nil && c.onError != nil {
		c.onError(p, err)
	}
	if p.volatile {
		return ok
	}
	if ok {
		c.results[i] = 1
	} else {
		c.results[i] = 2
	}
	return ok
}

// number evaluates value expression i as a number; ok is false (and the
// error counted) when it fails.
func (c *evalCtx) number(i int) (float64, bool) {
	p := c.defs.values[i]
	parseMembers(&c.ev, c.raw, p.needs, &c.parsed)
	f, err := p.number(c)
	if err != nil {
		if c.onError != nil {
			c.onError(p, err)
		}
		return 0, false
	}
	return f, true
}

// value evaluates value expression i.
func (c *evalCtx) value(i int) (any, bool) {
	p := c.defs.values[i]
	parseMembers(&c.ev, c.raw, p.needs, &c.parsed)
	v, err := p.value(c)
	if err != nil {
		if c.onError != nil {
			c.onError(p, err)
		}
		return nil, false
	}
	return v, true
}

// ResolveName implements interpreter.Activation: `event` is the current
// event, `profile` the current profile.
func (c *evalCtx) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return &c.ev, true
	case "profile":
		return &c.prof, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (c *evalCtx) Parent() interpreter.Activation { return nil }
