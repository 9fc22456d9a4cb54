package bots

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/sillage/sillage/enricher/internal/litfilter"
)

// crawlerJSON is monperrus/crawler-user-agents (MIT), see NOTICE.md.
//
//go:embed crawler-user-agents.json
var crawlerJSON []byte

// Reason prefixes: a BotReason is one of these, followed for all but
// ReasonEmpty by ":" and what matched.
const (
	ReasonEmpty      = "empty-user-agent"
	KindHeadless     = "headless"
	KindCrawlerList  = "crawler-list"
	KindHTTPClient   = "http-client"
	KindClientHint   = "client-hint"
	hintHeadlessName = KindClientHint + ":headless"
)

// marker is one heuristic: a name, matched ASCII-case-insensitively
// anywhere in the agent, or, when the name alone would match browsers too,
// a Go regexp.
type marker struct {
	name    string
	pattern string // "": the name itself
}

// headlessMarkers are automation and headless-browser markers. They come
// before the crawler list, which also knows some of them, so that the
// reason names the category.
var headlessMarkers = []marker{
	{name: "HeadlessChrome"}, {name: "Headless Chrome"}, {name: "PhantomJS"}, {name: "SlimerJS"},
	{name: "Selenium"}, {name: "WebDriver"}, {name: "Puppeteer"}, {name: "Playwright"},
	{name: "HtmlUnit"}, {name: "CasperJS"}, {name: "jsdom/"}, {name: "Cypress/"},
}

// httpClientMarkers are HTTP client libraries and command-line tools that
// the crawler list misses (a test keeps it so); they come after it.
var httpClientMarkers = []marker{
	{name: "curl/"}, {name: "libcurl"},
	// Java's HttpURLConnection ("Java/1.8.0_151"), not the J2ME phone
	// browsers' "Java/ASVM/1.1".
	{name: "Java/", pattern: `(?:^|[^\w/])[Jj]ava/\d`},
	{name: "Java-http-client"}, {name: "undici"}, {name: "GuzzleHttp"}, {name: "RestSharp"},
	{name: "PostmanRuntime"}, {name: "insomnia/"}, {name: "reqwest/"}, {name: "WindowsPowerShell"},
	{name: "Faraday v"}, {name: "Ruby", pattern: `^Ruby$`},
}

type crawlerEntry struct {
	Pattern   string   `json:"pattern"`
	Instances []string `json:"instances"`
}

// loadCrawlers decodes the embedded list.
func loadCrawlers() ([]crawlerEntry, error) {
	var list []crawlerEntry
	if err := json.Unmarshal(crawlerJSON, &list); err != nil {
		return nil, fmt.Errorf("decoding embedded crawler-user-agents.json: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("embedded crawler-user-agents.json holds no pattern")
	}
	return list, nil
}

// rule is one way of being a bot. A rule without a regexp is a plain
// marker: finding its literal is the match.
type rule struct {
	reason string
	re     *regexp.Regexp
	lits   []string // ASCII-lowercased; nil: tried on every agent
}

// buildRules returns the rules in priority order: headless markers, the
// crawler list in its own order, HTTP clients.
func buildRules(heuristics bool, ignore []string) ([]rule, error) {
	list, err := loadCrawlers()
	if err != nil {
		return nil, err
	}
	var rules []rule
	markers := func(kind string, ms []marker) error {
		for _, m := range ms {
			if len(m.name) < litfilter.MinLiteral {
				return fmt.Errorf("heuristic %s:%s: a marker needs %d bytes at least", kind, m.name, litfilter.MinLiteral)
			}
			r := rule{reason: kind + ":" + m.name, lits: []string{strings.ToLower(m.name)}}
			if m.pattern != "" {
				var err error
				if r.re, err = regexp.Compile(m.pattern); err != nil {
					return fmt.Errorf("heuristic %s: %w", r.reason, err)
				}
				if r.lits, err = litfilter.Required(m.pattern); err != nil {
					return fmt.Errorf("heuristic %s: %w", r.reason, err)
				}
			}
			rules = append(rules, r)
		}
		return nil
	}
	if heuristics {
		if err := markers(KindHeadless, headlessMarkers); err != nil {
			return nil, err
		}
	}
	skip := make(map[string]bool, len(ignore))
	for _, p := range ignore {
		skip[p] = true
	}
	for i, c := range list {
		if _, ok := skip[c.Pattern]; ok {
			skip[c.Pattern] = false // found
			continue
		}
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("crawler list entry %d: pattern %q: %w", i, c.Pattern, err)
		}
		lits, err := litfilter.Required(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("crawler list entry %d: pattern %q: %w", i, c.Pattern, err)
		}
		rules = append(rules, rule{reason: KindCrawlerList + ":" + c.Pattern, re: re, lits: lits})
	}
	for _, p := range ignore {
		if skip[p] {
			return nil, fmt.Errorf("bots.ignore: %q is not a pattern of the crawler list", p)
		}
	}
	if heuristics {
		if err := markers(KindHTTPClient, httpClientMarkers); err != nil {
			return nil, err
		}
	}
	return rules, nil
}
