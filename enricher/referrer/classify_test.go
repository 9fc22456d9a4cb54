package referrer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func newClassifier(tb testing.TB, internal ...string) *Classifier {
	tb.Helper()
	c, err := New(Config{InternalDomains: internal})
	require.NoError(tb, err)
	return c
}

const page = "https://shop.example.com/products/42"

func TestClassifyReferrers(t *testing.T) {
	cl := newClassifier(t, "example-group.com")
	cases := []struct {
		ref  string
		want schemas.Referrer
	}{
		// Search engines, with and without the term.
		{"https://www.google.com/search?q=running+shoes&oq=running&sourceid=chrome", rf(MediumSearch, "Google", "running shoes", "www.google.com")},
		{"https://www.google.com/", rf(MediumSearch, "Google", "", "www.google.com")},
		{"https://www.google.co.uk/", rf(MediumSearch, "Google", "", "www.google.co.uk")},
		{"https://www.google.de/search?q=laufschuhe&hl=de", rf(MediumSearch, "Google", "laufschuhe", "www.google.de")},
		{"https://www.google.com.au/url?sa=t&rct=j&url=https%3A%2F%2Fshop.example.com%2F", rf(MediumSearch, "Google", "", "www.google.com.au")},
		{"https://www.google.com/imgres?imgurl=https%3A%2F%2Fshop.example.com%2Fa.jpg", rf(MediumSearch, "Google Images", "", "www.google.com")},
		{"https://images.google.de/", rf(MediumSearch, "Google Images", "", "images.google.de")},
		{"android-app://com.google.android.googlequicksearchbox/https/www.google.com", rf(MediumSearch, "Google", "", "com.google.android.googlequicksearchbox")},
		{"https://www.bing.com/search?q=sillage+analytics&form=QBLH", rf(MediumSearch, "Bing", "sillage analytics", "www.bing.com")},
		{"https://cn.bing.com/search?q=%E4%BD%A0%E5%A5%BD", rf(MediumSearch, "Bing", "你好", "cn.bing.com")},
		{"https://www.bing.com/", rf(MediumSearch, "Bing", "", "www.bing.com")},
		{"https://duckduckgo.com/", rf(MediumSearch, "DuckDuckGo", "", "duckduckgo.com")},
		{"https://duckduckgo.com/?q=kafka+cdp&t=h_&ia=web", rf(MediumSearch, "DuckDuckGo", "kafka cdp", "duckduckgo.com")},
		{"https://yandex.ru/search/?text=%D0%BA%D0%B0%D1%84%D0%BA%D0%B0&lr=213", rf(MediumSearch, "Yandex", "кафка", "yandex.ru")},
		{"https://yandex.com.tr/", rf(MediumSearch, "Yandex", "", "yandex.com.tr")},
		{"https://www.baidu.com/s?ie=utf-8&wd=%E6%B5%8B%E8%AF%95", rf(MediumSearch, "Baidu", "测试", "www.baidu.com")},
		{"https://www.ecosia.org/search?method=index&q=trees", rf(MediumSearch, "Ecosia", "trees", "www.ecosia.org")},
		{"https://www.ecosia.org/", rf(MediumSearch, "Ecosia", "", "www.ecosia.org")},
		{"https://www.qwant.com/?q=vie+priv%C3%A9e&t=web", rf(MediumSearch, "Qwant", "vie privée", "www.qwant.com")},
		{"https://search.yahoo.com/search?p=weather+paris&fr=yfp", rf(MediumSearch, "Yahoo!", "weather paris", "search.yahoo.com")},
		{"https://fr.search.yahoo.com/search?p=m%C3%A9t%C3%A9o", rf(MediumSearch, "Yahoo!", "météo", "fr.search.yahoo.com")},
		{"https://r.search.yahoo.com/_ylt=AwrE/RV=2/RE=1700000000/RO=10/RU=https%3a%2f%2fshop.example.com%2f/RK=2/RS=x-", rf(MediumSearch, "Yahoo!", "", "r.search.yahoo.com")},
		{"https://search.brave.com/search?q=go+generics&source=web", rf(MediumSearch, "Brave", "go generics", "search.brave.com")},
		{"https://www.startpage.com/", rf(MediumSearch, "StartPage", "", "www.startpage.com")},
		{"https://search.naver.com/search.naver?where=nexearch&query=%EC%B9%B4%ED%94%84%EC%B9%B4", rf(MediumSearch, "Naver", "카프카", "search.naver.com")},
		{"https://WWW.GOOGLE.COM:443/search?q=Caps", rf(MediumSearch, "Google", "Caps", "www.google.com")},
		{"https://user:pw@www.bing.com/search?q=x", rf(MediumSearch, "Bing", "x", "www.bing.com")},
		{"www.google.com/search?q=bare", rf(MediumSearch, "Google", "bare", "www.google.com")},
		{"https://www.google.com/search?q=%ZZbad", rf(MediumSearch, "Google", "%ZZbad", "www.google.com")},
		{"https://www.google.com/search?q=", rf(MediumSearch, "Google", "", "www.google.com")},

		// Social networks.
		{"https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.com%2F&h=AT0", rf(MediumSocial, "Facebook", "", "l.facebook.com")},
		{"https://m.facebook.com/", rf(MediumSocial, "Facebook", "", "m.facebook.com")},
		{"https://www.facebook.com/", rf(MediumSocial, "Facebook", "", "www.facebook.com")},
		{"https://www.facebook.com/search/top/?q=sillage", rf(MediumSearch, "Facebook", "sillage", "www.facebook.com")},
		{"android-app://com.facebook.katana/", rf(MediumSocial, "Facebook", "", "com.facebook.katana")},
		{"https://l.instagram.com/?u=https%3A%2F%2Fshop.example.com%2F", rf(MediumSocial, "Instagram", "", "l.instagram.com")},
		{"https://www.linkedin.com/feed/", rf(MediumSocial, "LinkedIn", "", "www.linkedin.com")},
		{"https://lnkd.in/eAbC123", rf(MediumSocial, "LinkedIn", "", "lnkd.in")},
		{"android-app://com.linkedin.android/", rf(MediumSocial, "LinkedIn", "", "com.linkedin.android")},
		{"https://t.co/AbCdEf1234", rf(MediumSocial, "Twitter", "", "t.co")},
		{"https://x.com/someone/status/1790000000000000000", rf(MediumSocial, "Twitter", "", "x.com")},
		{"https://old.reddit.com/r/golang/comments/abc/", rf(MediumSocial, "reddit", "", "old.reddit.com")},
		{"https://out.reddit.com/t3_abc?url=https%3A%2F%2Fshop.example.com", rf(MediumSocial, "reddit", "", "out.reddit.com")},
		{"https://www.youtube.com/watch?v=dQw4w9WgXcQ", rf(MediumSocial, "YouTube", "", "www.youtube.com")},
		{"https://m.youtube.com/", rf(MediumSocial, "YouTube", "", "m.youtube.com")},
		{"https://www.tiktok.com/@someone/video/7300000000000000000", rf(MediumSocial, "TikTok", "", "www.tiktok.com")},
		{"https://news.ycombinator.com/item?id=40000000", rf(MediumSocial, "Hacker News", "", "news.ycombinator.com")},
		{"https://www.pinterest.co.uk/pin/123/", rf(MediumSocial, "Pinterest", "", "www.pinterest.co.uk")},
		{"https://plus.google.com/", rf(MediumSocial, "Google+", "", "plus.google.com")},

		// AI assistants (chatgpt.com is in the search list too: AI wins).
		{"https://chatgpt.com/", rf(MediumAI, "ChatGPT", "", "chatgpt.com")},
		{"https://chat.openai.com/c/abc", rf(MediumAI, "ChatGPT", "", "chat.openai.com")},
		{"https://www.perplexity.ai/search/best-cdp-abc", rf(MediumAI, "Perplexity", "", "www.perplexity.ai")},
		{"https://gemini.google.com/", rf(MediumAI, "Gemini", "", "gemini.google.com")},
		{"https://copilot.microsoft.com/", rf(MediumAI, "Copilot", "", "copilot.microsoft.com")},
		{"https://claude.ai/", rf(MediumAI, "Claude", "", "claude.ai")},
		{"https://x.com/i/grok?conversation=1", rf(MediumAI, "Grok", "", "x.com")},
		{"https://chat.deepseek.com/", rf(MediumAI, "Deepseek", "", "chat.deepseek.com")},

		// Webmail.
		{"https://mail.google.com/", rf(MediumEmail, "Gmail", "", "mail.google.com")},
		{"https://outlook.live.com/", rf(MediumEmail, "Outlook", "", "outlook.live.com")},
		{"https://us.mail.yahoo.com/d/folders/1", rf(MediumEmail, "Yahoo Mail", "", "us.mail.yahoo.com")},
		{"android-app://com.google.android.gm/", rf(MediumEmail, "Gmail", "", "com.google.android.gm")},
		{"https://www.icloud.com/mail/", rf(MediumEmail, "iCloud Mail", "", "www.icloud.com")},
		{"https://webmail.example.net/?_task=mail", rf(MediumEmail, "webmail.example.net", "", "webmail.example.net")},

		// Internal: the page's host, with or without www, and configured domains.
		{"https://shop.example.com/cart", rf(MediumInternal, "shop.example.com", "", "shop.example.com")},
		{"https://www.shop.example.com/", rf(MediumInternal, "www.shop.example.com", "", "www.shop.example.com")},
		{"https://example-group.com/", rf(MediumInternal, "example-group.com", "", "example-group.com")},
		{"https://blog.example-group.com/post", rf(MediumInternal, "blog.example-group.com", "", "blog.example-group.com")},

		// Direct.
		{"", rf(MediumDirect, "", "", "")},
		{"   ", rf(MediumDirect, "", "", "")},

		// Other sites: unknown, with the host as source.
		{"https://www.example.org/links", rf(MediumUnknown, "www.example.org", "", "www.example.org")},
		{"https://docs.google.com/document/d/1", rf(MediumUnknown, "docs.google.com", "", "docs.google.com")},
		{"https://www.google.com/maps/place/x", rf(MediumUnknown, "www.google.com", "", "www.google.com")},
		{"https://notexample.com/", rf(MediumUnknown, "notexample.com", "", "notexample.com")},
		{"https://shop.example.com.evil.io/", rf(MediumUnknown, "shop.example.com.evil.io", "", "shop.example.com.evil.io")},

		// Malformed: unknown, no host.
		{"not a url", rf(MediumUnknown, "", "", "")},
		{"http://", rf(MediumUnknown, "", "", "")},
		{"about:blank", rf(MediumUnknown, "", "", "")},
		{"http://%zz/", rf(MediumUnknown, "", "", "")},
		{"https://[::1", rf(MediumUnknown, "", "", "")},
		{"https://\xff\xfe/", rf(MediumUnknown, "", "", "")},
		{"https://[::1]:8080/x", rf(MediumUnknown, "::1", "", "::1")},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			var ref schemas.Referrer
			var c schemas.Campaign
			cl.Classify(page, tc.ref, nil, &ref, &c)
			require.Equal(t, tc.want, ref)
			require.Equal(t, schemas.Campaign{}, c)
		})
	}
}

func TestCampaignOverridesMedium(t *testing.T) {
	cl := newClassifier(t)
	cases := []struct {
		name, page, ref string
		want            schemas.Referrer
		click           string
	}{
		{"gclid on Google", page + "?gclid=Cj0KCQ", "https://www.google.com/", rf(MediumPaid, "Google", "", "www.google.com"), "gclid:Cj0KCQ"},
		{"gbraid without referrer", page + "?gbraid=0AAAA", "", rf(MediumPaid, "Google", "", ""), "gbraid:0AAAA"},
		{"msclkid without referrer", page + "?msclkid=abc123", "", rf(MediumPaid, "Microsoft", "", ""), "msclkid:abc123"},
		{"ttclid on TikTok", page + "?ttclid=E.C.P", "https://www.tiktok.com/", rf(MediumPaid, "TikTok", "", "www.tiktok.com"), "ttclid:E.C.P"},
		{"utm_source wins over platform", page + "?utm_source=bing&utm_medium=cpc&msclkid=abc", "", rf(MediumPaid, "bing", "", ""), "msclkid:abc"},
		{"fbclid alone is organic", page + "?fbclid=IwAR0x", "https://l.facebook.com/", rf(MediumSocial, "Facebook", "", "l.facebook.com"), "fbclid:IwAR0x"},
		{"fbclid with paid medium", page + "?utm_medium=paid_social&utm_source=fb&fbclid=IwAR0x", "https://l.facebook.com/", rf(MediumPaid, "Facebook", "", "l.facebook.com"), "fbclid:IwAR0x"},
		{"cpc on unknown site", page + "?utm_source=partner&utm_medium=CPC&utm_campaign=spring", "https://blog.partner.io/", rf(MediumPaid, "partner", "", "blog.partner.io"), ""},
		{"display", page + "?utm_medium=display&utm_source=dv360", "", rf(MediumPaid, "dv360", "", ""), ""},
		{"paid search keeps the term", page + "?utm_medium=ppc", "https://www.bing.com/search?q=shoes", rf(MediumPaid, "Bing", "shoes", "www.bing.com"), ""},
		{"email without referrer", page + "?utm_source=newsletter&utm_medium=email&utm_campaign=may", "", rf(MediumEmail, "newsletter", "", ""), ""},
		{"e-mail from webmail", page + "?utm_medium=E-Mail", "https://mail.google.com/", rf(MediumEmail, "Gmail", "", "mail.google.com"), ""},
		{"organic utm keeps the referrer", page + "?utm_source=twitter&utm_medium=social", "https://t.co/x", rf(MediumSocial, "Twitter", "", "t.co"), ""},
		{"utm_source names an AI", page + "?utm_source=chatgpt.com", "", rf(MediumAI, "ChatGPT", "", ""), ""},
		{"utm_source names a social host", page + "?utm_source=www.linkedin.com", "", rf(MediumSocial, "LinkedIn", "", ""), ""},
		{"utm_source not a host", page + "?utm_source=chatgpt", "", rf(MediumDirect, "", "", ""), ""},
		{"campaign on internal link", page + "?gclid=x", "https://shop.example.com/", rf(MediumPaid, "Google", "", "shop.example.com"), "gclid:x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ref schemas.Referrer
			var c schemas.Campaign
			cl.Classify(tc.page, tc.ref, nil, &ref, &c)
			require.Equal(t, tc.want, ref)
			require.Equal(t, tc.click, c.ClickID)
		})
	}
}

func TestOutputsOverwritten(t *testing.T) {
	cl := newClassifier(t)
	ref := schemas.Referrer{Medium: "x", Source: "y", Term: "z", Host: "h"}
	c := schemas.Campaign{Source: "a", Medium: "b", Name: "c", Term: "d", Content: "e", ClickID: "f"}
	cl.Classify("", "", nil, &ref, &c)
	require.Equal(t, schemas.Referrer{Medium: MediumDirect}, ref)
	require.Equal(t, schemas.Campaign{}, c)
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		domains []string
		err     string
	}{
		{nil, ""},
		{[]string{"example.com", "shop.example.co.uk", "Example.ORG"}, ""},
		{[]string{"example.com", "https://example.com"}, "internal_domains[1]"},
		{[]string{"localhost"}, "internal_domains[0]"},
		{[]string{""}, "internal_domains[0]"},
		{[]string{"example.com/path"}, "internal_domains[0]"},
		{[]string{"exa mple.com"}, "internal_domains[0]"},
		{[]string{"*.example.com"}, "internal_domains[0]"},
	}
	for _, tc := range cases {
		err := Config{InternalDomains: tc.domains}.Validate()
		if tc.err == "" {
			require.NoError(t, err, tc.domains)
			_, err = New(Config{InternalDomains: tc.domains})
			require.NoError(t, err)
			continue
		}
		require.ErrorContains(t, err, tc.err, tc.domains)
		_, err = New(Config{InternalDomains: tc.domains})
		require.ErrorContains(t, err, tc.err)
	}
}

func TestInternalDomainCase(t *testing.T) {
	cl := newClassifier(t, "WWW.Example.ORG")
	var ref schemas.Referrer
	var c schemas.Campaign
	cl.Classify("https://app.other.net/", "https://news.example.org/a", nil, &ref, &c)
	require.Equal(t, MediumInternal, ref.Medium)
}

// rf builds an expected referrer: medium, source, term, host.
func rf(medium, source, term, host string) schemas.Referrer {
	return schemas.Referrer{Medium: medium, Source: source, Term: term, Host: host}
}
