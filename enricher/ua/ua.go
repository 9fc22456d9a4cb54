package ua

import (
	_ "embed"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ua-parser/uap-go/uaparser"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/enricher/internal/litfilter"
	"github.com/sillage/sillage/schemas"
)

// MaxLen is the longest prefix of a user-agent string that is parsed.
const MaxLen = 1024

//go:embed regexes.yaml
var regexesYAML []byte

// Parser parses user agents. It is safe for concurrent use.
type Parser struct {
	p     *uaparser.Parser
	cache *lru.Cache[string, schemas.UserAgent]
	// filter covers the three regex lists end to end: user-agent patterns
	// [0, nUA), OS patterns [nUA, nUA+nOS), device patterns after them.
	filter   *litfilter.Filter
	nUA, nOS int
	// constDevice[i] holds device pattern i's answer when none of its
	// replacements refers to a group ("Spider"/"Spider"/"Desktop"): then
	// only whether it matches matters, and MatchString, which may stop at
	// the first match found, decides that more cheaply than uap-go's
	// FindStringSubmatchIndex (which must settle every group). nil: the
	// pattern goes through uap-go's Match.
	constDevice []*uaparser.Device
	// split[i], for a constant device pattern i built around a large
	// alternation, is the range of its branches in branches: see
	// splitAlternation. nil: the pattern is run whole.
	split    []*[2]int
	branches []*regexp.Regexp
	// branchFilter is the literal prefilter over branches.
	branchFilter *litfilter.Filter
}

// New compiles the embedded regexes and returns a parser whose cache holds
// up to cacheSize distinct agents.
func New(cacheSize int) (*Parser, error) {
	if cacheSize < 1 {
		return nil, fmt.Errorf("user-agent cache size %d: must be at least 1", cacheSize)
	}
	var defs uaparser.RegexDefinitions
	if err := yaml.Unmarshal(regexesYAML, &defs); err != nil {
		return nil, fmt.Errorf("loading embedded ua-parser regexes: %w", err)
	}
	// uap-go's own cache cannot be disabled; ours replaces it, so keep it tiny.
	p, err := uaparser.New(uaparser.WithRegexDefinitions(defs), uaparser.WithCacheSize(1))
	if err != nil {
		return nil, fmt.Errorf("building ua-parser: %w", err)
	}
	rd := p.RegexDefinitions
	var lits [][]string
	add := func(list string, i int, re *regexp.Regexp) error {
		// The regexp's own source ("(?i)" and the flags included) is what
		// uap-go compiled, so it is what is analysed.
		l, err := litfilter.Required(re.String())
		if err != nil {
			return fmt.Errorf("analysing ua-parser %s pattern %d %q: %w", list, i, re.String(), err)
		}
		lits = append(lits, l)
		return nil
	}
	for i, r := range rd.UA {
		if err := add("user_agent_parsers", i, r.Reg); err != nil {
			return nil, err
		}
	}
	for i, r := range rd.OS {
		if err := add("os_parsers", i, r.Reg); err != nil {
			return nil, err
		}
	}
	for i, r := range rd.Device {
		if err := add("device_parsers", i, r.Reg); err != nil {
			return nil, err
		}
	}
	f, err := litfilter.NewFilter(lits)
	if err != nil {
		return nil, fmt.Errorf("ua-parser prefilter: %w", err)
	}
	c, err := lru.New[string, schemas.UserAgent](cacheSize)
	if err != nil {
		return nil, fmt.Errorf("user-agent cache: %w", err)
	}
	constDevice := make([]*uaparser.Device, len(rd.Device))
	for i, d := range rd.Device {
		if !strings.Contains(d.DeviceReplacement+d.BrandReplacement+d.ModelReplacement, "$") {
			// What uap-go's Match stores: ExpandString copies a template
			// without "$" as is, then each field is trimmed.
			constDevice[i] = &uaparser.Device{
				Family: strings.TrimSpace(d.DeviceReplacement),
				Brand:  strings.TrimSpace(d.BrandReplacement),
				Model:  strings.TrimSpace(d.ModelReplacement),
			}
		}
	}
	split := make([]*[2]int, len(rd.Device))
	var branches []*regexp.Regexp
	var branchLits [][]string
	for i, d := range rd.Device {
		if constDevice[i] == nil {
			continue
		}
		bs, err := splitAlternation(d.Reg.String())
		if err != nil {
			return nil, fmt.Errorf("splitting ua-parser device_parsers pattern %d %q: %w", i, d.Reg.String(), err)
		}
		if len(bs) < minBranches {
			continue
		}
		split[i] = &[2]int{len(branches), len(branches) + len(bs)}
		for _, b := range bs {
			re, err := regexp.Compile(b)
			if err != nil {
				return nil, fmt.Errorf("device_parsers pattern %d, branch %q: %w", i, b, err)
			}
			l, err := litfilter.Required(b)
			if err != nil {
				return nil, fmt.Errorf("device_parsers pattern %d, branch %q: %w", i, b, err)
			}
			branches, branchLits = append(branches, re), append(branchLits, l)
		}
	}
	bf, err := litfilter.NewFilter(branchLits)
	if err != nil {
		return nil, fmt.Errorf("ua-parser branch prefilter: %w", err)
	}
	return &Parser{p: p, cache: c, filter: f, nUA: len(rd.UA), nOS: len(rd.OS),
		constDevice: constDevice, split: split, branches: branches, branchFilter: bf}, nil
}

// Parse returns the parsed agent; the empty string gives the zero value.
func (p *Parser) Parse(s string) schemas.UserAgent {
	if s == "" {
		return schemas.UserAgent{}
	}
	if len(s) > MaxLen {
		s = s[:MaxLen]
	}
	if v, ok := p.cache.Get(s); ok {
		return v
	}
	v := p.parse(s)
	// The key may be a substring of a large decoded record: clone it so the
	// cache does not pin the record.
	p.cache.Add(strings.Clone(s), v)
	return v
}

// Cached reports whether s is in the cache (for tests and metrics).
func (p *Parser) Cached(s string) bool {
	if len(s) > MaxLen {
		s = s[:MaxLen]
	}
	return p.cache.Contains(s)
}

// parse runs uap-go's three lookups (ParseUserAgent, ParseOs, ParseDevice)
// with the same patterns, in the same order, on the same result values,
// skipping only the patterns the prefilter proves cannot match: a skipped
// pattern's Match would have left the result untouched, so the answer is
// uap-go's to the byte, including its quirks (a pattern that matches with
// an empty family leaves its version parts for the next match to overwrite,
// or for "Other" to keep).
func (p *Parser) parse(s string) schemas.UserAgent {
	var buf [32]uint64 // room for 2,048 patterns without allocating
	cands := p.filter.Candidates(s, buf[:0])
	defs := p.p.RegexDefinitions

	var a uaparser.UserAgent
	for i := cands.Next(0, p.nUA); i >= 0; i = cands.Next(i+1, p.nUA) {
		if defs.UA[i].Match(s, &a); a.Family != "" {
			break
		}
	}
	if a.Family == "" {
		a.Family = "Other"
	}

	var o uaparser.Os
	base, end := p.nUA, p.nUA+p.nOS
	for i := cands.Next(base, end); i >= 0; i = cands.Next(i+1, end) {
		if defs.OS[i-base].Match(s, &o); o.Family != "" {
			break
		}
	}
	if o.Family == "" {
		o.Family = "Other"
	}

	var d uaparser.Device
	var bbuf [8]uint64
	var bc litfilter.Set // branch candidates, computed when first needed
	base, end = end, p.filter.Len()
	for i := cands.Next(base, end); i >= 0; i = cands.Next(i+1, end) {
		dp := defs.Device[i-base]
		if cd := p.constDevice[i-base]; cd != nil {
			var m bool
			if r := p.split[i-base]; r != nil {
				if bc == nil {
					bc = p.branchFilter.Candidates(s, bbuf[:0])
				}
				for j := bc.Next(r[0], r[1]); j >= 0 && !m; j = bc.Next(j+1, r[1]) {
					m = p.branches[j].MatchString(s)
				}
			} else {
				m = dp.Reg.MatchString(s)
			}
			if m {
				d = *cd
			}
		} else {
			dp.Match(s, &d)
		}
		if d.Family != "" {
			break
		}
	}
	if d.Family == "" {
		d.Family = "Other"
	}
	return toSchema(&a, &o, &d)
}

// minBranches is the smallest alternation splitAlternation's result is
// used for: below it, running the pattern whole is as cheap.
const minBranches = 8

// splitAlternation rewrites a pattern whose top level holds an alternation
// (A|B|…), possibly in a group, into one pattern a branch (the rest of the
// top level kept around each branch): the pattern matches a text exactly
// when one of them does. It returns nil when there is no such alternation.
//
// Why: Go's regexp has no DFA; its NFA expands the whole alternation at
// every step, and uap-core's "Spider" device pattern, ^.{0,100} before some
// 200 crawler names case-insensitively, costs over 100 µs an agent that way.
// Split, each branch gets its own literals, the prefilter leaves one or two
// branches to run, and each is small enough for the backtracker (a few µs).
// Capture groups are dropped: only the match/no-match answer is used.
func splitAlternation(pattern string) ([]string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	top := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		top = re.Sub
	}
	for k, sub := range top {
		for sub.Op == syntax.OpCapture {
			sub = sub.Sub[0]
		}
		if sub.Op != syntax.OpAlternate {
			continue
		}
		out := make([]string, 0, len(sub.Sub))
		for _, b := range sub.Sub {
			whole := b
			if len(top) > 1 {
				parts := slices.Clone(top)
				parts[k] = b
				whole = &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: parts}
			}
			out = append(out, whole.String())
		}
		return out, nil
	}
	return nil, nil
}

func toSchema(a *uaparser.UserAgent, o *uaparser.Os, d *uaparser.Device) schemas.UserAgent {
	return schemas.UserAgent{
		Browser:        a.Family,
		BrowserVersion: Version(a.Major, a.Minor, a.Patch),
		OS:             o.Family,
		OSVersion:      Version(o.Major, o.Minor, o.Patch, o.PatchMinor),
		Device:         d.Family,
		DeviceBrand:    d.Brand,
		DeviceModel:    d.Model,
	}
}

// Version joins version parts with dots, stopping at the first empty part:
// ("1", "2", "", "") gives "1.2"; all empty gives "".
func Version(parts ...string) string {
	n := 0
	for n < len(parts) && parts[n] != "" {
		n++
	}
	return strings.Join(parts[:n], ".")
}
