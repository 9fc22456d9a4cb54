package bots

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/internal/litfilter"
)

// Every instance of the list contains one of its own pattern's literals
// (the property the prefilter relies on, on real data).
func TestRequiredHoldsOnInstances(t *testing.T) {
	for _, c := range loadList(t) {
		lits, err := litfilter.Required(c.Pattern)
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
		lits, err := litfilter.Required(pattern)
		require.NoError(t, err)
		if re.MatchString(input) {
			requireContainsOne(t, pattern, lits, input)
		}
	})
}
