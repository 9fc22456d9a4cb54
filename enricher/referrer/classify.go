package referrer

import (
	"fmt"
	"strings"

	"github.com/sillage/sillage/schemas"
)

// Mediums written to schemas.Referrer.Medium.
const (
	MediumDirect   = "direct"   // no referrer
	MediumInternal = "internal" // the site itself
	MediumSearch   = "search"   // a search engine (Source = engine, Term = query when sent)
	MediumSocial   = "social"   // a social network
	MediumAI       = "ai"       // an AI assistant
	MediumEmail    = "email"    // a webmail, or utm_medium=email
	MediumPaid     = "paid"     // an ad click id, or a paid utm_medium
	MediumUnknown  = "unknown"  // any other site (Source = its host), or an unreadable referrer
)

// MaxValueLen caps, in bytes, every value copied out of a URL (search term,
// utm_* values, click ids); longer ones are cut on a rune boundary.
const MaxValueLen = 256

// Config configures a Classifier.
type Config struct {
	// InternalDomains are the site's own domains: a referrer on one of them
	// or on a subdomain of one is "internal". A referrer on the page's own
	// host (ignoring a leading "www.") is always internal.
	InternalDomains []string `yaml:"internal_domains"`
}

// Validate checks that every internal domain is a bare host name.
func (c Config) Validate() error {
	for i, d := range c.InternalDomains {
		if h := normHost(d); h == "" || h != strings.ToLower(strings.TrimSuffix(d, ".")) || !strings.Contains(h, ".") {
			return fmt.Errorf("internal_domains[%d]: %q is not a host name such as example.com", i, d)
		}
	}
	return nil
}

// Classifier classifies referrers and reads campaigns. It is immutable after
// New and safe for concurrent use.
type Classifier struct {
	engines  index[*engine]
	sites    index[site]
	internal map[string]struct{}
}

// New parses the embedded lists and builds the lookup tables.
func New(cfg Config) (*Classifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	engines, err := loadEngines(searchEnginesYAML)
	if err != nil {
		return nil, err
	}
	sites := index[site]{}
	for name, hosts := range webmail {
		for _, h := range hosts {
			host, path := splitEntry(h)
			sites.add(strings.TrimPrefix(host, "www."), path, site{medium: MediumEmail, name: name})
		}
	}
	// AI before socials: a host in both (none today) is an assistant.
	if err := loadSites(sites, aiAssistantsYAML, "AIAssistants.yml", MediumAI); err != nil {
		return nil, err
	}
	if err := loadSites(sites, socialsYAML, "Socials.yml", MediumSocial); err != nil {
		return nil, err
	}
	for name, pkgs := range apps {
		for _, p := range pkgs {
			if !exactRule(sites, p, "") {
				sites.add(p, "", site{medium: MediumSocial, name: name})
			}
		}
	}
	c := &Classifier{engines: engines, sites: sites, internal: map[string]struct{}{}}
	for _, d := range cfg.InternalDomains {
		c.internal[strings.TrimPrefix(normHost(d), "www.")] = struct{}{}
	}
	return c, nil
}

// Classify fills ref from the referrer URL and c from the page URL's query
// (utm_* and click ids) merged with ctx, the campaign the SDK sent in
// context.campaign (nil if none; see ContextCampaign). Both outputs are
// overwritten. It never fails: an unreadable referrer is "unknown" with no
// host, an unreadable page URL has no campaign.
//
// Precedence: a paid click id or utm_medium makes the medium "paid", and
// utm_medium=email makes it "email", whatever the referrer (a campaign link
// is attributed to its campaign, as Google Analytics does). Otherwise the
// referrer decides: none → direct; the page's host or an internal domain →
// internal; then webmail, AI assistant, search engine (only when the URL
// carries its term or is one of the engine's term-less paths, as Matomo
// requires), social network, and anything else is unknown.
func (cl *Classifier) Classify(pageURL, referrer string, ctx *schemas.Campaign, ref *schemas.Referrer, c *schemas.Campaign) {
	page := split(pageURL)
	ck := readCampaign(page.query, ctx, c)

	*ref = schemas.Referrer{}
	referrer = strings.TrimSpace(referrer)
	known := false // Source names a list entry, not a host
	switch {
	case referrer == "":
		ref.Medium = MediumDirect
		// Apps often send no referrer but tag links: utm_source=chatgpt.com.
		if s, ok := cl.siteFor(sourceHost(c.Source), ""); ok && ck.medium == "" {
			ref.Medium, ref.Source, known = s.medium, s.name, true
		}
	default:
		r := split(referrer)
		ref.Host = r.host
		known = cl.classifyHost(r, page.host, ref)
	}

	switch ck.medium {
	case MediumPaid, MediumEmail:
		ref.Medium = ck.medium
		if !known {
			switch {
			case c.Source != "":
				ref.Source = c.Source
			case ck.platform != "":
				ref.Source = ck.platform
			}
		}
	}
}

// classifyHost sets Medium, Source and Term for a non-empty referrer and
// reports whether Source is a list entry's name.
func (cl *Classifier) classifyHost(r parts, pageHost string, ref *schemas.Referrer) bool {
	h := r.host
	switch {
	case h == "":
		ref.Medium = MediumUnknown
		return false
	case cl.isInternal(h, pageHost):
		ref.Medium, ref.Source = MediumInternal, h
		return false
	}
	s, ok := cl.siteFor(h, r.path)
	if ok && s.medium != MediumSocial {
		ref.Medium, ref.Source = s.medium, s.name
		return true
	}
	if e := cl.engineFor(h, r.path); e != nil {
		if term, found := e.term(r); found {
			ref.Medium, ref.Source, ref.Term = MediumSearch, e.name, term
			return true
		}
	}
	if ok {
		ref.Medium, ref.Source = s.medium, s.name
		return true
	}
	if strings.HasPrefix(h, "webmail.") {
		ref.Medium, ref.Source = MediumEmail, h
		return false
	}
	ref.Medium, ref.Source = MediumUnknown, h
	return false
}

// isInternal: same host as the page (ignoring "www."), or an internal domain
// or a subdomain of one.
func (cl *Classifier) isInternal(h, pageHost string) bool {
	if pageHost != "" && strings.TrimPrefix(h, "www.") == strings.TrimPrefix(pageHost, "www.") {
		return true
	}
	if len(cl.internal) == 0 {
		return false
	}
	for {
		if _, ok := cl.internal[h]; ok {
			return true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return false
		}
		h = h[i+1:]
	}
}

// siteFor finds the webmail, AI or social entry for host h or its nearest
// parent domain.
func (cl *Classifier) siteFor(h, path string) (site, bool) {
	for h != "" {
		if s, ok := cl.sites.get(h, path); ok {
			return s, true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			break
		}
		h = h[i+1:]
	}
	return site{}, false
}

// engineFor finds the search-engine block for host h as Matomo does:
// host+path, host, then the same with the lossy form of the host. Search
// engines are not matched by parent domain (docs.google.com is not Google
// search).
func (cl *Classifier) engineFor(h, path string) *engine {
	if e, ok := cl.engines.get(h, path); ok {
		return e
	}
	var buf [maxHostLen + 8]byte
	k, changed := lossy(buf[:0], h)
	if !changed {
		return nil
	}
	for _, r := range cl.engines[string(k)] { // no allocation: map index by string(bytes)
		if r.path == "" || hasPathPrefix(path, r.path) {
			return r.entry
		}
	}
	return nil
}

// term extracts the search term, reporting whether the referrer is a search
// at all: it carries a term, or is one of the engine's term-less paths.
func (e *engine) term(r parts) (string, bool) {
	for _, p := range e.params {
		var v string
		if p.re != nil {
			if m := p.re.FindStringSubmatch(r.path); len(m) > 1 {
				v = m[1]
			}
		} else if raw, ok := param(r.query, p.name); ok {
			v = raw
		} else if raw, ok := param(r.frag, p.name); ok {
			v = raw
		}
		if v = clean(v); v != "" {
			return v, true
		}
	}
	for _, h := range e.hidden {
		if h.match(r.rest) {
			return "", true
		}
	}
	return "", false
}

// sourceHost returns utm_source when it looks like a host name, else "".
func sourceHost(s string) string {
	if !strings.Contains(s, ".") {
		return ""
	}
	return normHost(s)
}
