package referrer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/schemas"
)

// concrete turns a list entry's "{}" placeholders into a real country.
func concrete(u string) string {
	u = strings.ReplaceAll(u, ".{}/", ".de/")
	if strings.HasSuffix(u, ".{}") {
		u = strings.TrimSuffix(u, "{}") + "de"
	}
	return strings.ReplaceAll(u, "{}", "fr")
}

func classify(tb testing.TB, cl *Classifier, ref string) schemas.Referrer {
	tb.Helper()
	var r schemas.Referrer
	var c schemas.Campaign
	cl.Classify(page, ref, nil, &r, &c)
	return r
}

// TestSearchEnginesWalk checks that the first URL of every block of
// SearchEngines.yml resolves to its engine, and that a referrer carrying a
// term through the block's first query parameter is a search by that engine
// (or by the AI assistant of the same name: ChatGPT, You).
func TestSearchEnginesWalk(t *testing.T) {
	cl := newClassifier(t)
	var raw map[string][]seConfig
	require.NoError(t, yaml.Unmarshal(searchEnginesYAML, &raw))
	require.Greater(t, len(raw), 250)
	blocks := 0
	for name, cfgs := range raw {
		for i, c := range cfgs {
			require.NotEmpty(t, c.URLs, "%s block %d", name, i)
			u := concrete(c.URLs[0])
			host, path := splitEntry(u)
			e := cl.engineFor(host, path)
			require.NotNil(t, e, "%s block %d: %s", name, i, u)
			require.Equal(t, displayName(name), e.name, "%s block %d: %s", name, i, u)
			blocks++

			var qp string
			for _, p := range c.Params {
				if !isRegexLiteral(p) {
					qp = p
					break
				}
			}
			if qp == "" {
				continue
			}
			ref := "https://" + u + "?" + qp + "=sillage+test"
			if strings.Contains(u, ".") == false { // an Android package name
				ref = "android-app://" + u + "/?" + qp + "=sillage+test"
			}
			got := classify(t, cl, ref)
			require.Equal(t, displayName(name), got.Source, ref)
			switch got.Medium {
			case MediumSearch:
				require.Equal(t, "sillage test", got.Term, ref)
			case MediumAI:
			default:
				t.Fatalf("%s: medium %q", ref, got.Medium)
			}
		}
	}
	require.Greater(t, blocks, 300)
}

// TestRegexKeywordParams covers the engines that keep the term in the path.
func TestRegexKeywordParams(t *testing.T) {
	cl := newClassifier(t)
	cases := []struct{ ref, source, term string }{
		{"https://1.cz/s/kolo", "1.cz", "kolo"},
		{"https://www.123people.com/s/john+smith", "123people", "john smith"},
		{"https://scour.com/search/web/matomo", "Scour.com", "matomo"},
		{"https://blekko.com/ws/go+kafka", "blekko", "go kafka"},
	}
	for _, tc := range cases {
		got := classify(t, cl, tc.ref)
		require.Equal(t, schemas.Referrer{Medium: MediumSearch, Source: tc.source, Term: tc.term, Host: split(tc.ref).host}, got, tc.ref)
	}
}

// TestSitesWalk checks every entry of Socials.yml and AIAssistants.yml,
// on a deep path (so that no search engine's term-less path applies) and on
// a subdomain.
func TestSitesWalk(t *testing.T) {
	cl := newClassifier(t)
	for _, l := range []struct {
		data   []byte
		medium string
	}{{socialsYAML, MediumSocial}, {aiAssistantsYAML, MediumAI}} {
		var raw map[string][]string
		require.NoError(t, yaml.Unmarshal(l.data, &raw))
		require.NotEmpty(t, raw)
		for name, urls := range raw {
			for _, u := range urls {
				host, path := splitEntry(u)
				for _, h := range []string{host, "sub." + host} {
					ref := "https://" + h + path + "/some/post?id=1"
					if !strings.Contains(host, ".") {
						continue
					}
					got := classify(t, cl, ref)
					require.Equal(t, schemas.Referrer{Medium: l.medium, Source: displayName(name), Host: h}, got, ref)
				}
			}
		}
	}
}

func TestExtraWalk(t *testing.T) {
	cl := newClassifier(t)
	for name, hosts := range webmail {
		for _, u := range hosts {
			host, path := splitEntry(u)
			ref := "https://" + host + path + "/inbox"
			got := classify(t, cl, ref)
			require.Equal(t, schemas.Referrer{Medium: MediumEmail, Source: name, Host: host}, got, ref)
		}
	}
	for name, pkgs := range apps {
		for _, p := range pkgs {
			ref := "android-app://" + p + "/"
			got := classify(t, cl, ref)
			require.Equal(t, schemas.Referrer{Medium: MediumSocial, Source: name, Host: p}, got, ref)
		}
	}
}

func TestLossy(t *testing.T) {
	cases := []struct{ host, want string }{
		{"www.google.co.uk", "google.{}"},
		{"google.de", "google.{}"},
		{"www.google.com.au", "google.{}"},
		{"yandex.com.tr", "yandex.{}"},
		{"m.yandex.ru", "yandex.{}"},
		{"de.search.yahoo.com", "{}.search.yahoo.com"},
		{"search.yahoo.com", "yahoo.com"},
		{"www2.google.com", "google.com"},
		{"images.de.ask.com", "images.{}.ask.com"},
		{"www.so.com", "{}.com"},
		{"de.fr.example.com", "{}.fr.example.com"},
		{"google.com", ""},
		{"example.xyz", ""},
		{"localhost", ""},
		{"web.example.com", ""},
		{strings.Repeat("a.", 40) + "de", ""}, // too many labels: no lossy form
	}
	for _, tc := range cases {
		got, changed := lossy(nil, tc.host)
		require.Equal(t, tc.want != "", changed, tc.host)
		if changed {
			require.Equal(t, tc.want, string(got), tc.host)
		}
	}
}

func TestSplit(t *testing.T) {
	cases := []struct{ in, host, path, query, frag string }{
		{"https://www.google.com/search?q=x#frag", "www.google.com", "/search", "q=x", "frag"},
		{"HTTP://Example.COM.", "example.com", "", "", ""},
		{"//cdn.example.com/a", "cdn.example.com", "/a", "", ""},
		{"example.com:8080/a?b", "example.com", "/a", "b", ""},
		{"localhost:8080", "localhost", "", "", ""},
		{"mailto:someone@example.com", "", "someone@example.com", "", ""},
		{"https://a.com\\b.com/", "a.com", "\\b.com/", "", ""},
		{"https://bücher.de/", "bücher.de", "/", "", ""},
		{"https://" + strings.Repeat("a", 300) + ".com/", "", "/", "", ""},
	}
	for _, tc := range cases {
		p := split(tc.in)
		require.Equal(t, tc.host, p.host, tc.in)
		require.Equal(t, tc.path, p.path, tc.in)
		require.Equal(t, tc.query, p.query, tc.in)
		require.Equal(t, tc.frag, p.frag, tc.in)
	}
}

func TestParam(t *testing.T) {
	q := "qq=1&q=two&empty&x=&q=three"
	v, ok := param(q, "q")
	require.True(t, ok)
	require.Equal(t, "two", v)
	v, ok = param(q, "empty")
	require.True(t, ok)
	require.Empty(t, v)
	_, ok = param(q, "missing")
	require.False(t, ok)
	_, ok = param("", "q")
	require.False(t, ok)
}
