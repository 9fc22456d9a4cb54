package litfilter

import (
	"fmt"
	"strings"
)

// Index finds which of a set of literals (ASCII-lowercased, each at least
// MinLiteral bytes long) occur in a text, ASCII-case-insensitively.
//
// Each literal is indexed by one of its four-byte substrings (three-byte
// literals by themselves): the one least common in browser agents, so that
// "webzip" is filed under "bzip", not under "webk…"'s "webz" neighbours. A
// scan slides three- and four-byte windows over the text; a bitmap of hashed
// windows (8 KiB each, they stay in the L1 cache) rejects almost every
// position with one load, and only windows that index some literal compare
// that literal in place. On a browser agent (~120 bytes, no literal
// present) this costs a few nanoseconds a byte and allocates nothing.
//
// Aho-Corasick libraries were measured first: github.com/petar-dambovaliev/
// aho-corasick spent ~2.5 µs and 4 allocations a browser agent (an
// interface call a byte), and the table-per-state ones
// (cloudflare/ahocorasick, BobuSumisu/aho-corasick) need 2–4 KiB a state,
// tens of MiB for this list.
type Index struct {
	g3, g4 gramIndex
	lits   []string
}

type gramIndex struct {
	bits    [1 << 16 / 64]uint64
	buckets map[uint32][]gramEntry // window → literals filed under it
}

type gramEntry struct {
	lit int32
	off int32 // offset of the window in the literal
}

// browserText holds the tokens of common browser agents; a literal is
// filed under its window that occurs least in it.
const browserText = "mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) " +
	"chrome/124.0.0.0 safari/537.36 edg/124.0.0.0 (macintosh; intel mac os x 10_15_7) version/17.4 " +
	"(iphone; cpu iphone os 17_4 like mac os x) mobile/15e148 (linux; android 14; sm-s918b) " +
	"mobile safari/537.36 (x11; ubuntu; linux x86_64; rv:125.0) gecko/20100101 firefox/125.0 " +
	"samsungbrowser/24.0 opr/109.0.0.0 yabrowser/24.1 crios/124.0 fxios/125.0 build/ wv) instagram fban/fbios"

var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

func windowHash(k uint32) uint32 { return (k * 0x9E3779B1) >> 16 }

func gramKey(s string) uint32 {
	var k uint32
	for i := 0; i < len(s); i++ {
		k = k<<8 | uint32(s[i])
	}
	return k
}

func (g *gramIndex) add(window string, e gramEntry) {
	k := gramKey(window)
	h := windowHash(k)
	g.bits[h/64] |= 1 << (h % 64)
	if g.buckets == nil {
		g.buckets = make(map[uint32][]gramEntry)
	}
	g.buckets[k] = append(g.buckets[k], e)
}

// NewIndex indexes lits (each ASCII-lowercased, at least MinLiteral bytes
// long); literal ids are positions in lits.
// It fails on a literal shorter than MinLiteral.
func NewIndex(lits []string) (*Index, error) {
	p := &Index{lits: lits}
	for id, l := range lits {
		if len(l) < MinLiteral {
			return nil, fmt.Errorf("literal %d %q: shorter than %d bytes", id, l, MinLiteral)
		}
		if len(l) < 4 {
			p.g3.add(l[:3], gramEntry{lit: int32(id)})
			continue
		}
		best, bestN := 0, -1
		for o := 0; o+4 <= len(l); o++ {
			if n := strings.Count(browserText, l[o:o+4]); bestN < 0 || n < bestN {
				best, bestN = o, n
			}
		}
		p.g4.add(l[best:best+4], gramEntry{lit: int32(id), off: int32(best)})
	}
	return p, nil
}

// Each calls fn with the id of every literal occurrence in s (a literal
// found twice is reported twice).
func (p *Index) Each(s string, fn func(id int32)) {
	var k uint32
	for i := 0; i < len(s); i++ {
		k = k<<8 | uint32(lowerTable[s[i]])
		if i < 2 {
			continue
		}
		if h := windowHash(k & 0xFFFFFF); p.g3.bits[h/64]&(1<<(h%64)) != 0 {
			p.check(s, i-2, p.g3.buckets[k&0xFFFFFF], fn)
		}
		if i < 3 {
			continue
		}
		if h := windowHash(k); p.g4.bits[h/64]&(1<<(h%64)) != 0 {
			p.check(s, i-3, p.g4.buckets[k], fn)
		}
	}
}

// check compares the literals filed under the window at s[at:].
func (p *Index) check(s string, at int, es []gramEntry, fn func(id int32)) {
	for _, e := range es {
		start := at - int(e.off)
		if start >= 0 && hasPrefixFold(s[start:], p.lits[e.lit]) {
			fn(e.lit)
		}
	}
}

// hasPrefixFold reports whether s starts with lit (ASCII-lowercased),
// ASCII-case-insensitively.
func hasPrefixFold(s, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	for i := 0; i < len(lit); i++ {
		if lowerTable[s[i]] != lit[i] {
			return false
		}
	}
	return true
}
