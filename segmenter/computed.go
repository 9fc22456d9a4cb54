package segmenter

import (
	"maps"
	"math"
)

// aggregate is a computed trait's aggregation.
type aggregate int

const (
	aggCount aggregate = iota + 1
	aggSum
	aggMin
	aggMax
	aggFirst
	aggLast
)

// computedTrait is one compiled computed trait.
type computedTrait struct {
	name  string
	agg   aggregate
	where int // predicate; -1: every event
	value int // value expression; -1 for count
}

// maxTraits bounds the identify traits kept per profile (top-level keys);
// further new keys are dropped.
const maxTraits = 100

// updateProfile applies the current event to the profile's traits and
// computed traits and reports whether they changed. It fills ec.prof.
func updateProfile(ec *evalCtx, st *profileState) bool {
	d := ec.defs
	changed := false
	if d.needs.profileTraits && ec.ev.Type == "identify" {
		parseMembers(&ec.ev, ec.raw, needs{traits: true}, &ec.parsed)
	}
	if d.needs.profileTraits && ec.ev.Type == "identify" && len(ec.ev.Traits) > 0 {
		if st.Traits == nil {
			st.Traits = map[string]any{}
		}
		for k, v := range ec.ev.Traits {
			old, had := st.Traits[k]
			switch {
			case v == nil && had:
				delete(st.Traits, k)
				changed = true
			case v == nil:
			case !had && len(st.Traits) >= maxTraits:
			case !had || !jsonEqual(old, v):
				st.Traits[k] = v
				changed = true
			}
		}
	}
	for _, ct := range d.computed {
		if ct.where >= 0 && !ec.match(ct.where) {
			continue
		}
		cur, has := st.Computed[ct.name]
		var next any
		switch ct.agg {
		case aggCount:
			f, _ := cur.(float64)
			next = f + 1
		case aggSum, aggMin, aggMax:
			v, ok := ec.number(ct.value)
			if !ok {
				continue
			}
			f, isNum := cur.(float64)
			switch {
			case ct.agg == aggSum:
				if math.IsInf(f+v, 0) {
					continue
				}
				next = f + v
			case !has || !isNum:
				next = v
			case ct.agg == aggMin:
				next = min(f, v)
			default:
				next = max(f, v)
			}
		case aggFirst, aggLast:
			if has && ct.agg == aggFirst {
				continue
			}
			v, ok := ec.value(ct.value)
			if !ok || v == nil {
				continue
			}
			next = v
		}
		if has && jsonEqual(cur, next) {
			continue
		}
		if st.Computed == nil {
			st.Computed = maps.Clone(d.computedDefaults)
		}
		st.Computed[ct.name] = next
		changed = true
	}
	if d.needs.profileTraits {
		ec.prof.Traits = st.Traits
		if ec.prof.Traits == nil {
			ec.prof.Traits = emptyObject
		}
	}
	if d.needs.profileComputed {
		// Count and sum read 0 before any matching event: the stored map
		// holds them from its creation (and gets those a changed
		// definitions file added); a profile without one reads the defaults.
		if st.Computed == nil {
			ec.prof.Computed = d.computedDefaults
		} else {
			for k, v := range d.computedDefaults {
				if _, ok := st.Computed[k]; !ok {
					st.Computed[k] = v
				}
			}
			ec.prof.Computed = st.Computed
		}
	}
	return changed
}

// jsonEqual compares scalar JSON values (maps and lists compare unequal,
// which only costs a rewrite).
func jsonEqual(a, b any) bool {
	switch a.(type) {
	case map[string]any, []any:
		return false
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}
