package referrer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sillage/sillage/schemas"
)

var mediums = map[string]bool{
	MediumDirect: true, MediumInternal: true, MediumSearch: true, MediumSocial: true,
	MediumAI: true, MediumEmail: true, MediumPaid: true, MediumUnknown: true,
}

// FuzzClassify: whatever the bytes, Classify does not panic, gives a known
// medium, valid UTF-8, bounded values, and a host taken from the referrer.
func FuzzClassify(f *testing.F) {
	for _, s := range [][2]string{
		{page, "https://www.google.com/search?q=x"},
		{page + "?utm_source=a&utm_medium=cpc&gclid=x", ""},
		{"https://s.example.com/?fbclid=%ZZ&utm_campaign=%E4%BD", "android-app://com.google.android.gm/"},
		{"", "https://[::1]:80/"},
		{"::::", "http://%zz/"},
		{"?utm_source=chatgpt.com", "   "},
		{"https://a/?utm_term=\xff", "https://1.cz/s/\xff%"},
		{"//", "www.google.co.uk:443/url?x#q=y"},
		{page, "https://x.com/i/grok"},
		{page, "https://r.search.yahoo.com/_ylt=x/RU=y"},
	} {
		f.Add(s[0], s[1], "ctx")
	}
	cl := newClassifier(f, "example.com")
	f.Fuzz(func(t *testing.T, pageURL, referrer, ctxSource string) {
		var ref schemas.Referrer
		var c schemas.Campaign
		ctx := &schemas.Campaign{Source: ctxSource}
		cl.Classify(pageURL, referrer, ctx, &ref, &c)
		if !mediums[ref.Medium] {
			t.Fatalf("medium %q", ref.Medium)
		}
		if strings.TrimSpace(referrer) == "" && ref.Host != "" {
			t.Fatalf("host %q without referrer", ref.Host)
		}
		if ref.Host != "" && !strings.Contains(lowerASCII(referrer), ref.Host) {
			t.Fatalf("host %q not in referrer %q", ref.Host, referrer)
		}
		for _, v := range []string{ref.Source, ref.Term, ref.Host, c.Source, c.Medium, c.Name, c.Term, c.Content, c.ClickID} {
			if !utf8.ValidString(v) {
				t.Fatalf("invalid UTF-8 %q", v)
			}
			if len(v) > MaxValueLen+len("li_fat_id:") {
				t.Fatalf("value of %d bytes", len(v))
			}
		}
	})
}
