package bots

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzCheck: Check never panics, and the prefiltered scan gives the naive
// scan's answer on any input.
func FuzzCheck(f *testing.F) {
	for _, c := range loadList(f)[:300] {
		for _, ua := range c.Instances {
			f.Add(ua, "")
		}
	}
	f.Add("", `"HeadlessChrome";v="1"`)
	f.Add("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "")
	f.Add("\xff\xfe\x00Googlebot/\u212a", "\x00")
	d := testDetector(f)
	f.Fuzz(func(t *testing.T, ua, hint string) {
		bot, reason := d.Check(ua, map[string]string{"sec-ch-ua": hint})
		require.Equal(t, bot, reason != "")
		if len(ua) > MaxLen {
			ua = ua[:MaxLen]
		}
		require.Equal(t, reasonOf(d, naive(d, ua)), reasonOf(d, d.scan(ua)), "agent %q", ua)
	})
}
