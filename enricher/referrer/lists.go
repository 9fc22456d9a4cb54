package referrer

import (
	_ "embed"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed data/SearchEngines.yml
var searchEnginesYAML []byte

//go:embed data/Socials.yml
var socialsYAML []byte

//go:embed data/AIAssistants.yml
var aiAssistantsYAML []byte

// engine is one configuration block of a search engine in SearchEngines.yml.
type engine struct {
	name   string
	params []keywordParam
	hidden []hiddenPath
}

// keywordParam is a query parameter holding the search term, or (re != nil)
// a regular expression whose first group extracts it from the path.
type keywordParam struct {
	name string
	re   *regexp.Regexp
}

// hiddenPath says that a referrer path (with its query and fragment) without
// a term still comes from the engine. Matomo writes them as exact strings or
// as /regex/; the common regexes are recognised so that they cost no regexp.
type hiddenPath struct {
	kind  hiddenKind
	exact string
	re    *regexp.Regexp
}

type hiddenKind uint8

const (
	hiddenExact  hiddenKind = iota // the path equals exact
	hiddenEmpty                    // '/^$/': nothing after the host
	hiddenAny                      // '/.*/': any path
	hiddenRegexp                   // anything else, unanchored as in PHP's preg_match
)

func (h hiddenPath) match(rest string) bool {
	switch h.kind {
	case hiddenEmpty:
		return rest == ""
	case hiddenAny:
		return true
	case hiddenRegexp:
		return h.re.MatchString(rest)
	}
	return rest == h.exact
}

// site is an entry of a list matched by domain suffix: socials, AI
// assistants, webmail and app package names.
type site struct {
	medium string
	name   string
}

// rule binds a host key to an entry, optionally only under a path prefix.
type rule[T any] struct {
	path  string // "" for the whole host, else a prefix such as "/i/grok"
	entry T
}

// index maps a host key to its rules, longest path first.
type index[T any] map[string][]rule[T]

func (ix index[T]) add(key, path string, e T) {
	rs := append(ix[key], rule[T]{path: path, entry: e})
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].path) > len(rs[j].path) })
	ix[key] = rs
}

// get returns the entry for key whose path prefix (on a segment boundary)
// matches path.
func (ix index[T]) get(key, path string) (T, bool) {
	for _, r := range ix[key] {
		if r.path == "" || hasPathPrefix(path, r.path) {
			return r.entry, true
		}
	}
	var zero T
	return zero, false
}

func hasPathPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// splitEntry cuts a list entry "host/path" into a lowercased host key and
// a path ("" or starting with '/').
func splitEntry(u string) (host, path string) {
	u = strings.ToLower(strings.TrimSpace(u))
	if i := strings.IndexByte(u, '/'); i >= 0 {
		return u[:i], u[i:]
	}
	return u, ""
}

type seConfig struct {
	URLs   []string `yaml:"urls"`
	Params []string `yaml:"params"`
	Hidden []string `yaml:"hiddenkeyword"`
}

// loadEngines parses SearchEngines.yml into an index keyed by host pattern
// (as written, "{}" placeholders included). Names are visited in sorted
// order so that a host listed twice always goes to the same engine.
func loadEngines(data []byte) (index[*engine], error) {
	var raw map[string][]seConfig
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parsing SearchEngines.yml: %w", err)
	}
	ix := index[*engine]{}
	for _, name := range sortedKeys(raw) {
		for i, c := range raw[name] {
			e := &engine{name: displayName(name)}
			for _, p := range c.Params {
				kp, err := parseKeywordParam(p)
				if err != nil {
					return nil, fmt.Errorf("SearchEngines.yml: %s, block %d: param %q: %w", name, i, p, err)
				}
				e.params = append(e.params, kp)
			}
			for _, h := range c.Hidden {
				hp, err := parseHidden(h)
				if err != nil {
					return nil, fmt.Errorf("SearchEngines.yml: %s, block %d: hiddenkeyword %q: %w", name, i, h, err)
				}
				e.hidden = append(e.hidden, hp)
			}
			for _, u := range c.URLs {
				// "android-app//pkg/…" duplicates the package-name entry,
				// which is what split() yields as the host of android-app:// URLs.
				if strings.HasPrefix(u, "android-app/") {
					continue
				}
				host, path := splitEntry(u)
				if host == "" {
					continue
				}
				if exactRule(ix, host, path) {
					continue
				}
				ix.add(host, path, e)
			}
		}
	}
	return ix, nil
}

func exactRule[T any](ix index[T], host, path string) bool {
	for _, r := range ix[host] {
		if r.path == path {
			return true
		}
	}
	return false
}

func isRegexLiteral(s string) bool { return len(s) > 1 && s[0] == '/' && s[len(s)-1] == '/' }

func parseKeywordParam(p string) (keywordParam, error) {
	if !isRegexLiteral(p) {
		return keywordParam{name: p}, nil
	}
	re, err := regexp.Compile(p[1 : len(p)-1])
	if err != nil {
		return keywordParam{}, err
	}
	if re.NumSubexp() < 1 {
		return keywordParam{}, fmt.Errorf("regex has no group for the keyword")
	}
	return keywordParam{re: re}, nil
}

func parseHidden(h string) (hiddenPath, error) {
	switch {
	case !isRegexLiteral(h):
		return hiddenPath{kind: hiddenExact, exact: h}, nil
	case h == "/^$/":
		return hiddenPath{kind: hiddenEmpty}, nil
	case h == "/.*/":
		return hiddenPath{kind: hiddenAny}, nil
	}
	re, err := regexp.Compile(h[1 : len(h)-1])
	if err != nil {
		return hiddenPath{}, err
	}
	return hiddenPath{kind: hiddenRegexp, re: re}, nil
}

// loadSites parses a Socials.yml or AIAssistants.yml list (name → hosts)
// into ix with the given medium. An entry already present keeps its first
// owner (AI assistants are loaded before socials, so they win).
func loadSites(ix index[site], data []byte, file, medium string) error {
	var raw map[string][]string
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("parsing %s: %w", file, err)
	}
	for _, name := range sortedKeys(raw) {
		for _, u := range raw[name] {
			host, path := splitEntry(u)
			host = strings.TrimPrefix(host, "www.")
			if host == "" || exactRule(ix, host, path) {
				continue
			}
			ix.add(host, path, site{medium: medium, name: displayName(name)})
		}
	}
	return nil
}

// displayName undoes the URL escaping of a few upstream names ("Google%2B").
func displayName(n string) string {
	if strings.IndexByte(n, '%') >= 0 {
		if u, err := url.PathUnescape(n); err == nil {
			return u
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
