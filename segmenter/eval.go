package segmenter

import (
	"cel.dev/cel-go/interpreter"

	"github.com/sillage/sillage/schemas"
)

// evalCtx evaluates the predicates of the definitions against one event,
// each at most once however many segments use it.
type evalCtx struct {
	defs      *Definitions
	ev        Event
	eventTime int64
	results   []int8 // per predicate: 0 not evaluated, 1 true, 2 false
	onError   func(p *predicate, err error)
}

func newEvalCtx(defs *Definitions, onError func(*predicate, error)) *evalCtx {
	return &evalCtx{defs: defs, results: make([]int8, len(defs.preds)), onError: onError}
}

// reset prepares the context for a new event.
func (c *evalCtx) reset(e *schemas.EnrichedEvent) {
	fillEvent(&c.ev, e, c.defs.needs)
	c.eventTime = e.EventTime
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
	ok, err := p.eval(c)
	if err != nil && c.onError != nil {
		c.onError(p, err)
	}
	if ok {
		c.results[i] = 1
	} else {
		c.results[i] = 2
	}
	return ok
}

// ResolveName implements interpreter.Activation: `event` is the current event.
func (c *evalCtx) ResolveName(name string) (any, bool) {
	if name == "event" {
		return &c.ev, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (c *evalCtx) Parent() interpreter.Activation { return nil }
