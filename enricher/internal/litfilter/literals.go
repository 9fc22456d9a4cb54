package litfilter

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// maxSet bounds every literal set built while analysing a pattern: past it
// the analysis gives up on exactness (never on correctness).
const maxSet = 32

// maxReq bounds the requirement of an alternation (the union of its
// branches' requirements): ua-parser has alternations of a few hundred
// names, each a good literal, that a tighter bound would send to their
// regexp on every input. The index's cost grows with matches, not with the
// number of literals, so a large set is cheap.
const maxReq = 1024

// MinLiteral is the shortest literal worth a prefilter entry: shorter ones
// occur in almost every user agent and would send the pattern to its regexp
// anyway. Every literal Required returns is at least this long.
const MinLiteral = 3

// info is what the analysis knows about the strings a (sub)pattern matches.
// All strings are ASCII-lowercased: the prefilter matches them ASCII-case-
// insensitively, so a set of lowercased literals is a superset filter.
type info struct {
	// exact, when isExact, is every string the pattern can match.
	exact   []string
	isExact bool
	// req, when non-nil, holds strings of which every match contains at
	// least one (a weaker fact than exact).
	req []string
	// pre and suf, when non-nil, hold strings with one of which every
	// match starts (pre) or ends (suf): what lets a concatenation join a
	// neighbour's literal across the boundary ("W(?:IRE|ordPress)", as
	// the parser factors "WIRE|WordPress", gives "wire" and "wordpress",
	// not "w").
	pre, suf []string
}

// Required returns literals, ASCII-lowercased, of which every match of the
// pattern (Go regexp syntax, as regexp.Compile takes it) contains at least
// one, compared ASCII-case-insensitively; or nil when no such set with each
// literal at least MinLiteral bytes long could be found: then the pattern
// must be tried on every input. It fails only when the pattern does not
// parse. Case-insensitive patterns are handled: their literals list every
// simple case fold that is not an ASCII case change ("(?i)ok" gives "ok"
// and "o\u212a", K being also KELVIN SIGN).
func Required(pattern string) ([]string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	set := analyze(re.Simplify()).best()
	if score(set) < MinLiteral {
		return nil, nil
	}
	return set, nil
}

func (i info) best() []string {
	if i.isExact {
		return i.exact
	}
	return i.req
}

// score is the length of the shortest literal of a set (0: no usable set).
func score(set []string) int {
	if len(set) == 0 {
		return 0
	}
	m := len(set[0])
	for _, s := range set[1:] {
		m = min(m, len(s))
	}
	return m
}

func exactly(s ...string) info { return info{exact: s, isExact: true, pre: s, suf: s} }

// prefix and suffix return what every match starts or ends with ({""}
// when nothing is known).
func (i info) prefix() []string {
	if i.pre == nil {
		return []string{""}
	}
	return i.pre
}

func (i info) suffix() []string {
	if i.suf == nil {
		return []string{""}
	}
	return i.suf
}

func analyze(re *syntax.Regexp) info {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactly("")
	case syntax.OpLiteral:
		cur := []string{""}
		for _, r := range re.Rune {
			v := runeVariants([]rune{r, r}, re.Flags&syntax.FoldCase != 0)
			if v == nil || len(cur)*len(v) > maxSet {
				// A literal too case-insensitive to enumerate: keep what
				// was built so far as a requirement and a prefix.
				return info{req: cur, pre: cur}
			}
			cur = cross(cur, v)
		}
		return exactly(cur...)
	case syntax.OpCharClass:
		if v := runeVariants(re.Rune, false); v != nil {
			return exactly(v...)
		}
		return info{}
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpQuest:
		if s := analyze(re.Sub[0]); s.isExact && len(s.exact) < maxSet {
			return exactly(union(s.exact, []string{""})...)
		}
		return info{}
	case syntax.OpPlus:
		// x+ starts and ends with a match of x.
		s := analyze(re.Sub[0])
		return info{req: s.best(), pre: s.pre, suf: s.suf}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return info{}
		}
		s := analyze(re.Sub[0])
		return info{req: s.best(), pre: s.pre, suf: s.suf}
	case syntax.OpConcat:
		return analyzeConcat(re.Sub)
	case syntax.OpAlternate:
		return analyzeAlternate(re.Sub)
	default: // OpAnyChar, OpAnyCharNotNL, OpStar, OpNoMatch
		return info{}
	}
}

// analyzeConcat extends runs of exactly known neighbours into longer
// literals (cross products), joins a run to the prefix of the inexact
// neighbour after it, starts the next run from that neighbour's suffix,
// and keeps the best requirement seen.
func analyzeConcat(subs []*syntax.Regexp) info {
	cur := []string{""} // what the text matched so far ends with
	leading := true     // cur is also what the whole match starts with
	var pre []string
	var cands [][]string
	for _, sub := range subs {
		s := analyze(sub)
		if s.isExact && len(cur)*len(s.exact) <= maxSet {
			cur = cross(cur, s.exact)
			continue
		}
		// The run ends here: cur followed by one of s's prefixes.
		join := cur
		if p := s.prefix(); len(cur)*len(p) <= maxReq {
			join = cross(cur, p)
		}
		cands = append(cands, cur, join, s.best())
		if leading {
			pre, leading = join, false
		}
		cur = s.suffix()
	}
	if leading {
		return exactly(cur...)
	}
	cands = append(cands, cur)
	var best []string
	for _, c := range cands {
		if score(c) > score(best) || (score(c) == score(best) && len(c) < len(best)) {
			best = c
		}
	}
	return info{req: best, pre: pre, suf: cur}
}

func analyzeAlternate(subs []*syntax.Regexp) info {
	var exact, req, pre, suf []string
	allExact, allReq, allPre, allSuf := true, true, true, true
	for _, sub := range subs {
		s := analyze(sub)
		if s.isExact {
			exact = union(exact, s.exact)
		} else {
			allExact = false
		}
		if b := s.best(); score(b) > 0 {
			req = union(req, b)
		} else {
			allReq = false
		}
		if allPre = allPre && score(s.pre) > 0; allPre {
			pre = union(pre, s.pre)
		}
		if allSuf = allSuf && score(s.suf) > 0; allSuf {
			suf = union(suf, s.suf)
		}
		if !allExact && !allReq && !allPre && !allSuf {
			return info{}
		}
	}
	if allExact && len(exact) <= maxSet {
		return exactly(exact...)
	}
	var out info
	if allReq && len(req) <= maxReq {
		out.req = req
	}
	if allPre && len(pre) <= maxReq {
		out.pre = pre
	}
	if allSuf && len(suf) <= maxReq {
		out.suf = suf
	}
	return out
}

// runeVariants lists, ASCII-lowercased and deduplicated, the one-rune
// strings matched by the rune ranges (pairs lo, hi), with their simple case
// folds when fold is set; nil when there are too many or one is not
// representable in UTF-8 (an input's invalid bytes match U+FFFD in Go's
// regexp but cannot be found as bytes).
func runeVariants(ranges []rune, fold bool) []string {
	var out []string
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] >= maxSet {
			return nil
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if r == utf8.RuneError || !utf8.ValidRune(r) {
				return nil
			}
			out = union(out, []string{lowerRune(r)})
			if fold {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					out = union(out, []string{lowerRune(f)})
				}
			}
			if len(out) > maxSet {
				return nil
			}
		}
	}
	return out
}

func lowerRune(r rune) string {
	if 'A' <= r && r <= 'Z' {
		r += 'a' - 'A'
	}
	return string(r)
}

func cross(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = union(out, []string{x + y})
		}
	}
	return out
}

// union appends to a the strings of b it does not hold yet.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
