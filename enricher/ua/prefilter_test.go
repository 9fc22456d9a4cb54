package ua

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/schemas"
)

// reference is plain uap-go's answer: every pattern of each list in order,
// through uap-go's own ParseUserAgent, ParseOs and ParseDevice.
func reference(p *Parser, s string) schemas.UserAgent {
	return toSchema(p.p.ParseUserAgent(s), p.p.ParseOs(s), p.p.ParseDevice(s))
}

// allPatterns lists the compiled patterns in the filter's numbering.
func allPatterns(p *Parser) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, r := range p.p.UA {
		out = append(out, r.Reg)
	}
	for _, r := range p.p.OS {
		out = append(out, r.Reg)
	}
	for _, r := range p.p.Device {
		out = append(out, r.Reg)
	}
	return out
}

// requireSameAsUAPGo checks the prefiltered parse against uap-go's and,
// more strictly, that every pattern matching s (not only the first) is a
// prefilter candidate.
func requireSameAsUAPGo(tb testing.TB, p *Parser, pats []*regexp.Regexp, s string) {
	tb.Helper()
	if len(s) > MaxLen {
		s = s[:MaxLen]
	}
	require.Equal(tb, reference(p, s), p.parse(s), "agent %q", s)
	cands := p.filter.Candidates(s, nil)
	for i, re := range pats {
		if !cands.Has(i) && re.MatchString(s) {
			tb.Fatalf("pattern %d %q matches %q but the prefilter skipped it", i, re.String(), s)
		}
	}
}

var uapFiles = []string{
	"tests/test_ua.yaml",
	"test_resources/firefox_user_agent_strings.yaml",
	"test_resources/pgts_browser_list.yaml",
	"test_resources/opera_mini_user_agent_strings.yaml",
	"test_resources/podcasting_user_agent_strings.yaml",
	"tests/test_os.yaml",
	"test_resources/additional_os_tests.yaml",
	"tests/test_device.yaml",
}

// corpus returns every uap-core test agent (31,327) and every example
// agent of the crawler-user-agents list.
func corpus(tb testing.TB) (uap, crawlers []string) {
	tb.Helper()
	for _, f := range uapFiles {
		for _, c := range loadCases(tb, f) {
			uap = append(uap, c.UA)
		}
	}
	b, err := os.ReadFile(shareddata.Path(tb, "useragent/crawler-user-agents/crawler-user-agents.json"))
	require.NoError(tb, err)
	var list []struct {
		Instances []string `json:"instances"`
	}
	require.NoError(tb, json.Unmarshal(b, &list))
	for _, e := range list {
		crawlers = append(crawlers, e.Instances...)
	}
	require.NotEmpty(tb, crawlers)
	return uap, crawlers
}

func sampleStrings(s []string, n int) []string {
	if *full || len(s) <= n {
		return s
	}
	out := make([]string, 0, n)
	step := float64(len(s)) / float64(n)
	for i := 0; i < n; i++ {
		out = append(out, s[int(float64(i)*step)])
	}
	return out
}

func TestPrefilterMatchesUAPGo(t *testing.T) {
	p := testParser(t)
	pats := allPatterns(p)
	uap, crawlers := corpus(t)
	require.Len(t, uap, 31_327)
	uap, crawlers = sampleStrings(uap, 600), sampleStrings(crawlers, 200)
	for _, s := range uap {
		requireSameAsUAPGo(t, p, pats, s)
	}
	for _, s := range crawlers {
		requireSameAsUAPGo(t, p, pats, s)
	}
	t.Logf("%d uap-core and %d crawler-list agents agree with uap-go (-ua.full: all)", len(uap), len(crawlers))
}

// mutate returns a variant of s: versions changed, case flipped, bytes
// inserted or dropped, letters swapped for their non-ASCII case folds
// (K for K, ſ for s), invalid UTF-8, a cut.
func mutate(rng *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + rng.IntN(3) {
		if len(b) == 0 {
			b = append(b, "Mozilla/5.0"...)
		}
		i := rng.IntN(len(b))
		switch rng.IntN(8) {
		case 0: // a new version number
			j := i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			b = append(b[:i:i], append([]byte(strconv.Itoa(rng.IntN(100000))), b[j:]...)...)
		case 1:
			b[i] ^= 0x20
		case 2:
			b = append(b[:i:i], append([]byte{byte(rng.IntN(256))}, b[i:]...)...)
		case 3:
			b = append(b[:i:i], b[i+1:]...)
		case 4:
			b = []byte(strings.ToUpper(string(b)))
		case 5:
			r := []string{"\u212a", "\u017f", "\xff", "\u00e9"}[rng.IntN(4)]
			b = append(b[:i:i], append([]byte(r), b[i+1:]...)...)
		case 6:
			b = b[:i]
		default:
			b = []byte(strings.ToLower(string(b)))
		}
	}
	return string(b)
}

func TestPrefilterMatchesUAPGoOnMutatedAgents(t *testing.T) {
	p := testParser(t)
	pats := allPatterns(p)
	uap, crawlers := corpus(t)
	rng := rand.New(rand.NewPCG(7, 11))
	n := 400
	if *full {
		n = 5000
	}
	for range n {
		base := uap[rng.IntN(len(uap))]
		if rng.IntN(4) == 0 {
			base = crawlers[rng.IntN(len(crawlers))]
		}
		requireSameAsUAPGo(t, p, pats, mutate(rng, base))
	}
}

// FuzzParse: on any agent the prefiltered parse is uap-go's, and no
// pattern that matches was skipped.
func FuzzParse(f *testing.F) {
	uap, crawlers := corpus(f)
	for _, s := range sampleStrings(uap, 200) {
		f.Add(s)
	}
	for _, s := range sampleStrings(crawlers, 50) {
		f.Add(s)
	}
	f.Add("")
	f.Add("\xff\xfe\x00SAMSUNG SM-G\u212a Build/\u017f")
	f.Add("MOZILLA/5.0 (WINDOWS NT 10.0; WIN64; X64) APPLEWEBKIT/537.36 (KHTML, LIKE GECKO) CHROME/120.0.0.0 SAFARI/537.36")
	p := testParser(f)
	pats := allPatterns(p)
	f.Fuzz(func(t *testing.T, s string) {
		requireSameAsUAPGo(t, p, pats, s)
	})
}

func TestPrefilterCoverage(t *testing.T) {
	p := testParser(t)
	n := len(p.p.UA) + len(p.p.OS) + len(p.p.Device)
	require.Equal(t, n, p.filter.Len())
	// Patterns without a usable literal run on every agent: a regexes.yaml
	// update that adds many would bring back the cost this filter removes.
	require.Less(t, p.filter.Unfiltered(), n/10, "patterns tried on every agent")
	split := 0
	for _, r := range p.split {
		if r != nil {
			split++
		}
	}
	// The "Spider" device pattern (^.{0,100} and ~200 crawler names) at least.
	require.GreaterOrEqual(t, split, 1, "device patterns split into branches")
	t.Logf("%d patterns, %d literals, %d tried on every agent, %d split into %d branches",
		n, p.filter.Literals(), p.filter.Unfiltered(), split, len(p.branches))
}

func TestSplitAlternation(t *testing.T) {
	got, err := splitAlternation(`(?i)^.{0,100}(bot|spider|^java/)`)
	require.NoError(t, err)
	require.Len(t, got, 3)
	texts := []string{"Googlebot/2.1", "JAVA/1.8", "x java/1", "Spider", "nothing", strings.Repeat("a", 101) + "bot"}
	whole := regexp.MustCompile(`(?i)^.{0,100}(bot|spider|^java/)`)
	for _, s := range texts {
		any := false
		for _, b := range got {
			any = any || regexp.MustCompile(b).MatchString(s)
		}
		require.Equal(t, whole.MatchString(s), any, "text %q, branches %q", s, got)
	}
	got, err = splitAlternation(`Android \d+; ([^;]+)`)
	require.NoError(t, err)
	require.Nil(t, got)
	_, err = splitAlternation(`a(b`)
	require.Error(t, err)
}

// unseenAgents returns n distinct agents: real ones (uap-core's browser
// tests) whose last version number is replaced, as a new release would.
func unseenAgents(tb testing.TB, n int) []string {
	tb.Helper()
	var base []string
	for i, c := range loadCases(tb, "tests/test_ua.yaml") {
		if i%3 == 0 && c.UA != "" {
			base = append(base, c.UA)
		}
	}
	digits := regexp.MustCompile(`[0-9]+`)
	out := make([]string, n)
	for i := range out {
		b := base[i%len(base)]
		locs := digits.FindAllStringIndex(b, -1)
		v := strconv.Itoa(1000 + i)
		if len(locs) == 0 {
			out[i] = b + " " + v
			continue
		}
		l := locs[len(locs)-1]
		out[i] = b[:l[0]] + v + b[l[1]:]
	}
	return out
}

// BenchmarkParseUnseen: agents never seen before (cache miss each time).
// "prefilter" is Parse; "uap-go" is plain uap-go on the same agents, the
// cost before the prefilter.
func BenchmarkParseUnseen(b *testing.B) {
	agents := unseenAgents(b, 20_000)
	b.Run("prefilter", func(b *testing.B) {
		p, err := New(1)
		require.NoError(b, err)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(agents[i%len(agents)])
			i++
		}
	})
	b.Run("uap-go", func(b *testing.B) {
		p := testParser(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			reference(p, agents[i%len(agents)])
			i++
		}
	})
}
