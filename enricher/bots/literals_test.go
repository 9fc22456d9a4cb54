package bots

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequired(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string // nil: no usable literal
	}{
		{`Googlebot\/`, []string{"googlebot/"}},
		{`[wW]get`, []string{"wget"}},
		{`^curl`, []string{"curl"}},
		{`Ahrefs(Bot|SiteAudit)`, []string{"ahrefsbot", "ahrefssiteaudit"}},
		{`(sistrix|SISTRIX) [cC]rawler`, []string{"sistrix crawler"}},
		{`AdsBot-Google([^-]|$)`, []string{"adsbot-google"}},
		{`ContextualBot[\s\S]*outcomes\.net`, []string{"contextualbot"}},
		{`Automaton|Newsify Feed Fetcher`, []string{"automaton", "newsify feed fetcher"}},
		{`BlogTraffic\/\d\.\d+ Feed-Fetcher`, nil}, // checked below: ten "blogtraffic/N." literals
		{`ab?c`, nil}, // "ac" / "abc": too short
		{`abc?d`, []string{"abd", "abcd"}},
		{`.*`, nil},
		{`a|bcd`, nil}, // one branch has no 3-byte literal
		{`x+yzw`, []string{"yzw"}},
		{`(?:abc){2,}`, []string{"abc"}},
		{`(?:abc)*def`, []string{"def"}},
		// Case-insensitive "k" also matches U+212A KELVIN SIGN.
		{`(?i)ok\/`, []string{"ok/", "o\u212a/"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, err := required(tt.pattern)
			require.NoError(t, err)
			if tt.pattern == `BlogTraffic\/\d\.\d+ Feed-Fetcher` {
				require.Len(t, got, 10)
				require.Contains(t, got, "blogtraffic/7.")
				return
			}
			require.ElementsMatch(t, tt.want, got)
		})
	}
	_, err := required(`a(b`)
	require.Error(t, err)
}

// Every instance of the list contains one of its own pattern's literals
// (the property the prefilter relies on, on real data).
func TestRequiredHoldsOnInstances(t *testing.T) {
	for _, c := range loadList(t) {
		lits, err := required(c.Pattern)
		require.NoError(t, err)
		for _, ua := range c.Instances {
			requireContainsOne(t, c.Pattern, lits, ua)
		}
	}
}

func requireContainsOne(tb testing.TB, pattern string, lits []string, s string) {
	tb.Helper()
	if lits == nil {
		return
	}
	low := asciiLower(s)
	for _, l := range lits {
		if strings.Contains(low, l) {
			return
		}
	}
	tb.Fatalf("pattern %q matches %q, which contains none of %q", pattern, s, lits)
}

// FuzzRequired: whatever the pattern, an input it matches contains one of
// the literals required says every match contains.
func FuzzRequired(f *testing.F) {
	for _, c := range loadList(f)[:200] {
		for _, ua := range c.Instances {
			f.Add(c.Pattern, ua)
		}
	}
	f.Add(`(?i)k{2}s`, "\u212a\u212a\u017f")
	f.Add(`[^a]bc(d|e)+`, "xbcde")
	f.Fuzz(func(t *testing.T, pattern, input string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		lits, err := required(pattern)
		require.NoError(t, err)
		if re.MatchString(input) {
			requireContainsOne(t, pattern, lits, input)
		}
	})
}
