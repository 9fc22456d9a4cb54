package referrer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestCampaignFromPageURL(t *testing.T) {
	cl := newClassifier(t)
	long := strings.Repeat("é", 200) // 400 bytes
	cases := []struct {
		name string
		page string
		ctx  *schemas.Campaign
		want schemas.Campaign
	}{
		{"none", "https://shop.example.com/", nil, schemas.Campaign{}},
		{"unreadable page URL", "%%%not a url", nil, schemas.Campaign{}},
		{"all five", "https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale&utm_term=running+shoes&utm_content=hero%20banner",
			nil, schemas.Campaign{Source: "newsletter", Medium: "email", Name: "spring_sale", Term: "running shoes", Content: "hero banner"}},
		{"after a fragment is ignored", "https://shop.example.com/#utm_source=x", nil, schemas.Campaign{}},
		{"before a fragment", "https://shop.example.com/?utm_source=a#utm_source=x", nil, schemas.Campaign{Source: "a"}},
		{"first occurrence wins", "https://s.example.com/?utm_source=a&utm_source=b", nil, schemas.Campaign{Source: "a"}},
		{"empty value skipped", "https://s.example.com/?utm_source=&utm_source=b", nil, schemas.Campaign{Source: "b"}},
		{"other utm ignored", "https://s.example.com/?utm_id=7&utm_source_platform=x&utm=1", nil, schemas.Campaign{}},
		{"trimmed", "https://s.example.com/?utm_campaign=+spring+", nil, schemas.Campaign{Name: "spring"}},
		{"bad escape kept", "https://s.example.com/?utm_campaign=50%off", nil, schemas.Campaign{Name: "50%off"}},
		{"invalid utf-8 repaired", "https://s.example.com/?utm_campaign=a%FFb", nil, schemas.Campaign{Name: "a\uFFFDb"}},
		{"capped on a rune", "https://s.example.com/?utm_content=" + long, nil, schemas.Campaign{Content: strings.Repeat("é", MaxValueLen/2)}},
		{"gclid", "https://s.example.com/?gclid=Cj0KCQjw&utm_source=google", nil, schemas.Campaign{Source: "google", ClickID: "gclid:Cj0KCQjw"}},
		{"gclid preferred to fbclid", "https://s.example.com/?fbclid=IwAR&gclid=Cj0", nil, schemas.Campaign{ClickID: "gclid:Cj0"}},
		{"wbraid", "https://s.example.com/?wbraid=CkQ", nil, schemas.Campaign{ClickID: "wbraid:CkQ"}},
		{"dclid", "https://s.example.com/?dclid=CJ7", nil, schemas.Campaign{ClickID: "dclid:CJ7"}},
		{"li_fat_id", "https://s.example.com/?li_fat_id=a1b2", nil, schemas.Campaign{ClickID: "li_fat_id:a1b2"}},
		{"twclid", "https://s.example.com/?twclid=2-x", nil, schemas.Campaign{ClickID: "twclid:2-x"}},
		{"empty click id skipped", "https://s.example.com/?gclid=&msclkid=m1", nil, schemas.Campaign{ClickID: "msclkid:m1"}},
		{"escaped click id", "https://s.example.com/?fbclid=Iw%2BAR", nil, schemas.Campaign{ClickID: "fbclid:Iw+AR"}},
		{"context only", "https://s.example.com/", &schemas.Campaign{Source: "app", Medium: "push", Name: "reengage"},
			schemas.Campaign{Source: "app", Medium: "push", Name: "reengage"}},
		{"context overrides per field", "https://s.example.com/?utm_source=url&utm_medium=email&utm_campaign=c1",
			&schemas.Campaign{Source: " ctx "}, schemas.Campaign{Source: "ctx", Medium: "email", Name: "c1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ref schemas.Referrer
			var c schemas.Campaign
			cl.Classify(tc.page, "", tc.ctx, &ref, &c)
			require.Equal(t, tc.want, c)
		})
	}
}

func TestContextCampaignMakesEmail(t *testing.T) {
	cl := newClassifier(t)
	var ref schemas.Referrer
	var c schemas.Campaign
	cl.Classify("https://s.example.com/", "", &schemas.Campaign{Source: "braze", Medium: "email"}, &ref, &c)
	require.Equal(t, schemas.Referrer{Medium: MediumEmail, Source: "braze"}, ref)
}

func TestContextCampaign(t *testing.T) {
	cases := []struct {
		name string
		json string
		want schemas.Campaign
		ok   bool
	}{
		{"segment fields", `{"campaign":{"name":"TPS Innovation Newsletter","source":"Newsletter","medium":"email","term":"tps reports","content":"image link"},"ip":"1.2.3.4"}`,
			schemas.Campaign{Name: "TPS Innovation Newsletter", Source: "Newsletter", Medium: "email", Term: "tps reports", Content: "image link"}, true},
		{"partial", `{"campaign":{"source":"newsletter"}}`, schemas.Campaign{Source: "newsletter"}, true},
		{"no campaign", `{"ip":"1.2.3.4","library":{"name":"analytics.js"}}`, schemas.Campaign{}, false},
		{"empty", ``, schemas.Campaign{}, false},
		{"campaign not an object", `{"campaign":"spring"}`, schemas.Campaign{}, false},
		{"nested elsewhere only", `{"page":{"campaign":{"source":"x"}}}`, schemas.Campaign{}, false},
		{"non-string values ignored", `{"campaign":{"source":7,"name":"n"}}`, schemas.Campaign{Name: "n"}, true},
		{"empty object", `{"campaign":{}}`, schemas.Campaign{}, false},
		{"malformed", `{"campaign":{"source":`, schemas.Campaign{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ContextCampaign(tc.json)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMediumRules(t *testing.T) {
	for _, m := range []string{"cpc", "PPC", "cpm", "cpv", "cpa", "display", "Banner", "retargeting", "paid", "paid_social", "paidsearch", "Paid-Search"} {
		require.True(t, paidMedium(m), m)
	}
	for _, m := range []string{"", "organic", "social", "email", "cp", "cpcx", "pai", "referral", "affiliate"} {
		require.False(t, paidMedium(m), m)
	}
	for _, m := range []string{"email", "EMAIL", "e-mail", "e_mail", "e mail"} {
		require.True(t, emailMedium(m), m)
	}
	for _, m := range []string{"", "mail", "newsletter", "emails"} {
		require.False(t, emailMedium(m), m)
	}
}
