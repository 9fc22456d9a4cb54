package referrer

import (
	"testing"

	"github.com/sillage/sillage/schemas"
)

// benchMix is a realistic mix of (page URL, referrer): mostly direct and
// internal, Google without a term (what browsers send today), some terms,
// socials, AI, webmail, unknown sites, and campaign-tagged landings.
var benchMix = [][2]string{
	{"https://shop.example.com/", ""},
	{"https://shop.example.com/products/42", ""},
	{"https://shop.example.com/cart", "https://shop.example.com/products/42"},
	{"https://shop.example.com/checkout", "https://shop.example.com/cart"},
	{"https://shop.example.com/products/7", "https://shop.example.com/"},
	{"https://shop.example.com/", "https://www.google.com/"},
	{"https://shop.example.com/products/42", "https://www.google.co.uk/"},
	{"https://shop.example.com/", "https://www.bing.com/search?q=running+shoes&form=QBLH"},
	{"https://shop.example.com/?gclid=Cj0KCQjw8O-VBhCpARIsACMvVLN&utm_source=google&utm_medium=cpc&utm_campaign=spring", "https://www.google.com/"},
	{"https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=may_2026", ""},
	{"https://shop.example.com/blog/post?fbclid=IwAR2x7y", "https://l.facebook.com/"},
	{"https://shop.example.com/blog/post", "https://t.co/AbCdEf"},
	{"https://shop.example.com/", "https://chatgpt.com/"},
	{"https://shop.example.com/", "https://duckduckgo.com/"},
	{"https://shop.example.com/", "https://mail.google.com/"},
	{"https://shop.example.com/blog/post", "https://news.ycombinator.com/item?id=1"},
	{"https://shop.example.com/", "https://www.some-blog.net/2026/05/review"},
	{"https://shop.example.com/products/42", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
	{"https://shop.example.com/", "android-app://com.google.android.googlequicksearchbox/https/www.google.com"},
	{"https://shop.example.com/about", "https://shop.example.com/"},
}

func BenchmarkClassify(b *testing.B) {
	cl := newClassifier(b, "example.com")
	var ref schemas.Referrer
	var c schemas.Campaign
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := benchMix[i%len(benchMix)]
		cl.Classify(m[0], m[1], nil, &ref, &c)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
