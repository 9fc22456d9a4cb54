package litfilter

import (
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
		{`BlogTraffic\/\d\.\d+ Feed-Fetcher`, nil}, // checked below: 100 "blogtraffic/N.M" literals
		{`ab?c`, nil}, // "ac" / "abc": too short
		{`abc?d`, []string{"abd", "abcd"}},
		{`.*`, nil},
		{`a|bcd`, nil},              // one branch has no 3-byte literal
		{`x+yzw`, []string{"xyzw"}}, // x+ ends with x
		{`W(?:IRE|ordPress)`, []string{"wire", "wordpress"}},
		{`(?:abc){2,}`, []string{"abcabc"}},
		{`(?:abc)*def`, []string{"def"}},
		// Case-insensitive "k" also matches U+212A KELVIN SIGN.
		{`(?i)ok\/`, []string{"ok/", "o\u212a/"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, err := Required(tt.pattern)
			require.NoError(t, err)
			if tt.pattern == `BlogTraffic\/\d\.\d+ Feed-Fetcher` {
				require.Len(t, got, 100)
				require.Contains(t, got, "blogtraffic/7.3")
				return
			}
			require.ElementsMatch(t, tt.want, got)
		})
	}
	_, err := Required(`a(b`)
	require.Error(t, err)
}
