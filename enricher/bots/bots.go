package bots

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sillage/sillage/enricher/internal/litfilter"
)

// MaxLen is the longest prefix of a user agent that is examined (the same
// bound as the ua package's): it bounds the time spent on one event and the
// memory of the cache.
const MaxLen = 1024

// Config configures the detector.
type Config struct {
	// CacheSize is how many distinct user agents keep their verdict; 0
	// turns the cache off (every agent is scanned).
	CacheSize int `yaml:"cache_size"`
	// Heuristics adds the behaviour signals to the crawler list: empty
	// agent, headless-browser and automation markers, HTTP client
	// libraries, a Sec-CH-UA client hint naming a headless browser.
	Heuristics bool `yaml:"heuristics"`
	// Ignore lists crawler-list patterns (verbatim, as in the reasons) not
	// to use: the escape hatch for a list entry that flags real browsers.
	Ignore []string `yaml:"ignore"`
}

// DefaultConfig returns the defaults: heuristics on, 20,000 cached agents.
func DefaultConfig() Config {
	return Config{CacheSize: 20_000, Heuristics: true}
}

// RegisterFlags binds the config to flags named prefix + option, e.g. with
// prefix "enricher.bots-": enricher.bots-cache-size, enricher.bots-heuristics.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.CacheSize, prefix+"cache-size", c.CacheSize, "distinct user agents whose bot verdict is cached (0: no cache)")
	fs.BoolVar(&c.Heuristics, prefix+"heuristics", c.Heuristics, "also flag empty agents, headless browsers, HTTP client libraries and headless client hints")
	fs.Func(prefix+"ignore", "a crawler-list pattern not to use (repeatable)", func(v string) error {
		c.Ignore = append(c.Ignore, v)
		return nil
	})
}

// Validate reports every problem with the config, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.CacheSize < 0 || c.CacheSize > 10_000_000 {
		errs = append(errs, fmt.Errorf("bots.cache_size: %d, want between 0 and 10000000", c.CacheSize))
	}
	return errors.Join(errs...)
}

// Detector tells bots from people by their user agent and client hints. It
// is safe for concurrent use.
type Detector struct {
	rules      []rule
	pre        *litfilter.Index
	litRules   [][]int32 // per prefilter literal, the rules it may signal, ascending
	always     []int32   // rules without a usable literal, ascending
	cache      *lru.Cache[string, int32]
	heuristics bool
}

// New compiles the embedded crawler list and the heuristics. It fails only
// on a bad config or a broken embedded list (a build problem).
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rules, err := buildRules(cfg.Heuristics, cfg.Ignore)
	if err != nil {
		return nil, err
	}
	d := &Detector{rules: rules, heuristics: cfg.Heuristics}
	var lits []string
	index := map[string]int{}
	for i, r := range rules {
		if r.lits == nil {
			d.always = append(d.always, int32(i))
			continue
		}
		for _, l := range r.lits {
			j, ok := index[l]
			if !ok {
				j = len(lits)
				index[l] = j
				lits = append(lits, l)
				d.litRules = append(d.litRules, nil)
			}
			// Rules are visited in order, so each list stays ascending.
			if rs := d.litRules[j]; len(rs) == 0 || rs[len(rs)-1] != int32(i) {
				d.litRules[j] = append(rs, int32(i))
			}
		}
	}
	if d.pre, err = litfilter.NewIndex(lits); err != nil {
		return nil, fmt.Errorf("crawler list literals: %w", err)
	}
	if cfg.CacheSize > 0 {
		if d.cache, err = lru.New[string, int32](cfg.CacheSize); err != nil {
			return nil, fmt.Errorf("bot verdict cache: %w", err)
		}
	}
	return d, nil
}

// Check reports whether the user agent (and the client hints, keyed by
// lowercased header name as the collector stores them; nil is fine) is a
// bot's, and why: ReasonEmpty, or a kind (KindHeadless, KindCrawlerList,
// KindHTTPClient, KindClientHint), ":" and what matched — for the crawler
// list, the list entry's pattern verbatim. Not a bot gives (false, "").
func (d *Detector) Check(userAgent string, hints map[string]string) (bool, string) {
	if d.heuristics && strings.TrimSpace(userAgent) == "" {
		return true, ReasonEmpty
	}
	if len(userAgent) > MaxLen {
		userAgent = userAgent[:MaxLen]
	}
	if r := d.lookup(userAgent); r >= 0 {
		return true, d.rules[r].reason
	}
	if d.heuristics && len(hints) > 0 && headlessHint(hints) {
		return true, hintHeadlessName
	}
	return false, ""
}

// Kind returns the part of a reason before ":" (the whole of ReasonEmpty):
// a bounded set, fit for a metric label where the reason itself is not.
func Kind(reason string) string {
	k, _, _ := strings.Cut(reason, ":")
	return k
}

// Patterns reports how many rules there are and how many of them have no
// literal for the prefilter, so are tried on every agent (for tests and
// the startup log).
func (d *Detector) Patterns() (rules, unfiltered int) {
	return len(d.rules), len(d.always)
}

func (d *Detector) lookup(ua string) int32 {
	if d.cache == nil {
		return d.scan(ua)
	}
	if r, ok := d.cache.Get(ua); ok {
		return r
	}
	r := d.scan(ua)
	// The key may point into a large decoded record: clone it so that the
	// cache does not pin the record.
	d.cache.Add(strings.Clone(ua), r)
	return r
}

// scan returns the first rule (in priority order) the agent matches, or -1.
// The prefilter names the rules whose literals occur in the agent; only
// those, and the few rules without a literal, run their regexp.
func (d *Detector) scan(ua string) int32 {
	best := int32(len(d.rules))
	d.pre.Each(ua, func(lit int32) {
		for _, r := range d.litRules[lit] {
			if r >= best {
				return
			}
			if re := d.rules[r].re; re == nil || re.MatchString(ua) {
				best = r
				return
			}
		}
	})
	for _, r := range d.always {
		if r >= best {
			break
		}
		if d.rules[r].re.MatchString(ua) {
			best = r
			break
		}
	}
	if best == int32(len(d.rules)) {
		return -1
	}
	return best
}

// headlessHint reports a Sec-CH-UA brand list naming a headless browser.
func headlessHint(hints map[string]string) bool {
	for _, k := range [...]string{"sec-ch-ua", "sec-ch-ua-full-version-list"} {
		if v, ok := hints[k]; ok && containsFold(v, "headless") {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains w (lowercase ASCII letters only),
// ASCII-case-insensitively, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
