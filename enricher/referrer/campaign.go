package referrer

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/sillage/sillage/schemas"
)

// clickIDs are the ad-click parameters recognised in the page URL, in the
// order of preference when a URL carries several. schemas.Campaign.ClickID
// is written "<param>:<value>", e.g. "gclid:EAIaIQobChMI…".
//
// paid says whether the parameter alone makes the visit "paid". fbclid does
// not: Facebook appends it to every outbound link, organic posts included,
// so it identifies the click but not an ad (paid Meta campaigns carry
// utm_medium, which is honoured).
var clickIDs = [...]struct {
	param, platform string
	paid            bool
}{
	{"gclid", "Google", true},
	{"gbraid", "Google", true},
	{"wbraid", "Google", true},
	{"dclid", "Google", true},
	{"msclkid", "Microsoft", true},
	{"ttclid", "TikTok", true},
	{"li_fat_id", "LinkedIn", true},
	{"twclid", "Twitter", true},
	{"fbclid", "Facebook", false},
}

// campaignKind is what the campaign says about the medium.
type campaignKind struct {
	medium   string // MediumPaid, MediumEmail or ""
	platform string // the ad platform of a paid click id
}

// readCampaign fills c from the utm_* and click-id parameters of the page's
// query q, each utm field overridden by ctx's when ctx has it (the SDK's
// context.campaign is what the app meant; on the web it was read from the
// same URL anyway). Values are unescaped, trimmed and capped.
func readCampaign(q string, ctx *schemas.Campaign, c *schemas.Campaign) campaignKind {
	*c = schemas.Campaign{}
	click, clickVal := len(clickIDs), ""
	for q != "" {
		var kv string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, ""
		}
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "utm_"):
			var dst *string
			switch k[4:] {
			case "source":
				dst = &c.Source
			case "medium":
				dst = &c.Medium
			case "campaign":
				dst = &c.Name
			case "term":
				dst = &c.Term
			case "content":
				dst = &c.Content
			default:
				continue
			}
			if *dst == "" {
				*dst = clean(v)
			}
		default:
			for i := 0; i < click; i++ {
				if clickIDs[i].param == k {
					if v = clean(v); v != "" {
						click, clickVal = i, v
					}
					break
				}
			}
		}
	}
	if ctx != nil {
		override(&c.Source, ctx.Source)
		override(&c.Medium, ctx.Medium)
		override(&c.Name, ctx.Name)
		override(&c.Term, ctx.Term)
		override(&c.Content, ctx.Content)
		override(&c.ClickID, ctx.ClickID)
	}
	var ck campaignKind
	if click < len(clickIDs) && c.ClickID == "" {
		c.ClickID = clickIDs[click].param + ":" + clickVal
	}
	if click < len(clickIDs) && clickIDs[click].paid {
		ck.medium, ck.platform = MediumPaid, clickIDs[click].platform
	}
	switch m := c.Medium; {
	case paidMedium(m):
		ck.medium = MediumPaid
	case ck.medium == "" && emailMedium(m):
		ck.medium = MediumEmail
	}
	return ck
}

func override(dst *string, v string) {
	if v = capLen(v); v != "" {
		*dst = v
	}
}

// paidMedium: cpc, ppc, cpm, cpv, cpa, display, banner, retargeting, paid…
// (Google Analytics' paid and display channel definitions), any case.
func paidMedium(m string) bool {
	switch {
	case len(m) >= 4 && strings.EqualFold(m[:4], "paid"):
		return true
	case len(m) == 3:
		for _, p := range [...]string{"cpc", "ppc", "cpm", "cpv", "cpa"} {
			if strings.EqualFold(m, p) {
				return true
			}
		}
	}
	return strings.EqualFold(m, "display") || strings.EqualFold(m, "banner") || strings.EqualFold(m, "retargeting")
}

// emailMedium: email, e-mail, e_mail, "e mail", any case.
func emailMedium(m string) bool {
	return strings.EqualFold(m, "email") || strings.EqualFold(m, "e-mail") ||
		strings.EqualFold(m, "e_mail") || strings.EqualFold(m, "e mail")
}

var ctxParsers fastjson.ParserPool

// ContextCampaign reads Segment's context.campaign (name, source, medium,
// term, content) from an event's context JSON, for Classify's ctx argument.
// It reports false when there is none; malformed JSON counts as none (the
// collector has validated the JSON already). It costs a JSON parse only when
// the text contains "campaign".
func ContextCampaign(contextJSON string) (schemas.Campaign, bool) {
	if !strings.Contains(contextJSON, `"campaign"`) {
		return schemas.Campaign{}, false
	}
	p := ctxParsers.Get()
	defer ctxParsers.Put(p)
	v, err := p.Parse(contextJSON)
	if err != nil {
		return schemas.Campaign{}, false
	}
	o := v.GetObject("campaign")
	if o == nil {
		return schemas.Campaign{}, false
	}
	str := func(k string) string {
		if x := o.Get(k); x != nil && x.Type() == fastjson.TypeString {
			return capLen(string(x.GetStringBytes()))
		}
		return ""
	}
	c := schemas.Campaign{Name: str("name"), Source: str("source"), Medium: str("medium"), Term: str("term"), Content: str("content")}
	return c, c != schemas.Campaign{}
}
