package litfilter

import (
	"fmt"
	"math/bits"
)

// Filter names, for a text, which of an ordered list of patterns may match
// it. It is immutable once built and safe for concurrent use.
type Filter struct {
	index    *Index
	litRules [][]int32 // per literal, the patterns it signals, ascending
	always   []uint64  // patterns without a usable literal, as a Set
	n        int
}

// NewFilter builds a filter over len(lits) patterns: lits[i] is Required's
// answer for pattern i (nil: pattern i has no usable literal and is a
// candidate for every text). It fails on a literal shorter than MinLiteral.
func NewFilter(lits [][]string) (*Filter, error) {
	f := &Filter{n: len(lits), always: make([]uint64, words(len(lits)))}
	var all []string
	index := map[string]int{}
	for i, ls := range lits {
		if ls == nil {
			f.always[i/64] |= 1 << (i % 64)
			continue
		}
		for _, l := range ls {
			j, ok := index[l]
			if !ok {
				j = len(all)
				index[l] = j
				all = append(all, l)
				f.litRules = append(f.litRules, nil)
			}
			// Patterns are visited in order, so each list stays ascending.
			if rs := f.litRules[j]; len(rs) == 0 || rs[len(rs)-1] != int32(i) {
				f.litRules[j] = append(rs, int32(i))
			}
		}
	}
	ix, err := NewIndex(all)
	if err != nil {
		return nil, fmt.Errorf("building literal index: %w", err)
	}
	f.index = ix
	return f, nil
}

// Len is the number of patterns.
func (f *Filter) Len() int { return f.n }

// Unfiltered is how many patterns have no usable literal (candidates for
// every text).
func (f *Filter) Unfiltered() int {
	n := 0
	for _, w := range f.always {
		n += bits.OnesCount64(w)
	}
	return n
}

// Literals is how many distinct literals the index holds.
func (f *Filter) Literals() int { return len(f.litRules) }

// Candidates returns the patterns that may match s as a Set, reusing dst's
// storage when it is large enough. A pattern absent from it provably does
// not match s (given the literals passed to NewFilter were Required's).
func (f *Filter) Candidates(s string, dst Set) Set {
	w := words(f.n)
	if cap(dst) < w {
		dst = make(Set, w)
	}
	dst = dst[:w]
	copy(dst, f.always)
	f.index.Each(s, func(lit int32) {
		for _, r := range f.litRules[lit] {
			dst[r/64] |= 1 << (r % 64)
		}
	})
	return dst
}

// Set is a set of pattern numbers, a bitmap.
type Set []uint64

// Has reports whether pattern i is in the set.
func (s Set) Has(i int) bool {
	return i >= 0 && i/64 < len(s) && s[i/64]&(1<<(i%64)) != 0
}

// Next returns the smallest pattern number in the set that is at least i
// and below end, or -1 when there is none.
func (s Set) Next(i, end int) int {
	if i < 0 {
		i = 0
	}
	end = min(end, len(s)*64)
	for i < end {
		w := s[i/64] >> (i % 64)
		if w != 0 {
			if j := i + bits.TrailingZeros64(w); j < end {
				return j
			}
			return -1
		}
		i = (i/64 + 1) * 64
	}
	return -1
}

func words(n int) int { return (n + 63) / 64 }
