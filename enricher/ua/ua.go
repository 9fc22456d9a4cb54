package ua

import (
	_ "embed"
	"fmt"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ua-parser/uap-go/uaparser"
	"gopkg.in/yaml.v3"

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
	c, err := lru.New[string, schemas.UserAgent](cacheSize)
	if err != nil {
		return nil, fmt.Errorf("user-agent cache: %w", err)
	}
	return &Parser{p: p, cache: c}, nil
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

func (p *Parser) parse(s string) schemas.UserAgent {
	a := p.p.ParseUserAgent(s)
	o := p.p.ParseOs(s)
	d := p.p.ParseDevice(s)
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
