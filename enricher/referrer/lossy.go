package referrer

import "strings"

// countryCodes are ISO 3166-1 alpha-2 codes plus the ccTLDs uk, eu and ac:
// the labels Matomo's "{}" placeholder stands for.
const countryCodes = "ad ae af ag ai al am ao aq ar as at au aw ax az " +
	"ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs bt bv bw by bz " +
	"ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz " +
	"de dj dk dm do dz ec ee eg eh er es et fi fj fk fm fo fr " +
	"ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy " +
	"hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp " +
	"ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly " +
	"ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz " +
	"na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa " +
	"re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv sx sy sz " +
	"tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug um us uy uz " +
	"va vc ve vg vi vn vu wf ws ye yt za zm zw uk eu ac"

var isCountry = func() (t [26 * 26]bool) {
	for _, c := range strings.Fields(countryCodes) {
		t[int(c[0]-'a')*26+int(c[1]-'a')] = true
	}
	return t
}()

func country(l string) bool {
	return len(l) == 2 && l[0] >= 'a' && l[0] <= 'z' && l[1] >= 'a' && l[1] <= 'z' &&
		isCountry[int(l[0]-'a')*26+int(l[1]-'a')]
}

// maxLabels bounds the labels lossy looks at; longer hosts get no lossy form.
const maxLabels = 32

// lossy appends to dst the form of host that Matomo's UrlHelper::getLossyUrl
// gives, which is how SearchEngines.yml writes its "{}" entries:
//
//  1. a leading "www.", "www2.", "w." … or "search." label is dropped;
//  2. "m." labels are dropped;
//  3. a country-code TLD, optionally after com/org/net/co/it/edu, becomes "{}";
//  4. a country-code label before another label becomes "{}".
//
// So www.google.co.uk → google.{}, de.search.yahoo.com → {}.search.yahoo.com,
// m.yandex.ru → yandex.{}. It reports false when the form equals host (no
// second lookup needed). dst is meant to be a stack buffer: no allocation.
func lossy(dst []byte, host string) ([]byte, bool) {
	var lab [maxLabels]string
	n := 0
	for s := host; ; {
		if n == maxLabels {
			return dst, false
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			lab[n] = s
			n++
			break
		}
		lab[n] = s[:i]
		n++
		s = s[i+1:]
	}
	ls := lab[:n]
	changed := false
	if len(ls) > 1 && (isWWW(ls[0]) || ls[0] == "search") {
		ls, changed = ls[1:], true
	}
	k := 0
	for i, l := range ls {
		if l == "m" && i < len(ls)-1 {
			changed = true
			continue
		}
		ls[k] = l
		k++
	}
	ls = ls[:k]
	if n := len(ls); n >= 2 && country(ls[n-1]) {
		if n >= 3 && secondLevel(ls[n-2]) {
			ls = ls[:n-1]
		}
		ls[len(ls)-1] = "{}"
		changed = true
	}
	prev := false // PHP's global replace does not overlap: "de.fr." only loses "de"
	for i := 0; i < len(ls)-1; i++ {
		if !prev && country(ls[i]) {
			ls[i], prev, changed = "{}", true, true
			continue
		}
		prev = false
	}
	if !changed {
		return dst, false
	}
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = append(dst, l...)
	}
	return dst, true
}

func isWWW(l string) bool {
	i := 0
	for i < len(l) && l[i] == 'w' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(l) && isDigit(l[i]) {
		i++
	}
	return i == len(l)
}

func secondLevel(l string) bool {
	switch l {
	case "com", "org", "net", "co", "it", "edu":
		return true
	}
	return false
}
