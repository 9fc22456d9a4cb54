package ua

import (
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/sillage/sillage/schemas"
)

// Client hint request headers read by ApplyHints, by their lower-case names
// as the collector captures them.
const (
	HintBrands          = "sec-ch-ua"
	HintFullVersionList = "sec-ch-ua-full-version-list"
	HintPlatform        = "sec-ch-ua-platform"
	HintPlatformVersion = "sec-ch-ua-platform-version"
	HintModel           = "sec-ch-ua-model"
)

// hintFamilies maps Sec-CH-UA brands to ua-parser's browser families.
var hintFamilies = map[string]string{
	"Google Chrome":    "Chrome",
	"Chromium":         "Chromium",
	"Microsoft Edge":   "Edge",
	"Opera":            "Opera",
	"Opera GX":         "Opera",
	"Brave":            "Brave",
	"Vivaldi":          "Vivaldi",
	"Samsung Internet": "Samsung Internet",
	"YaBrowser":        "Yandex Browser",
	"Yandex":           "Yandex Browser",
	"Android WebView":  "Chrome Mobile WebView",
	"DuckDuckGo":       "DuckDuckGo Mobile",
}

// hintPlatforms maps Sec-CH-UA-Platform values to ua-parser's OS families.
var hintPlatforms = map[string]string{
	"Windows": "Windows", "macOS": "Mac OS X", "Android": "Android", "Linux": "Linux",
	"Chrome OS": "Chrome OS", "Chromium OS": "Chrome OS", "iOS": "iOS",
}

// ApplyHints refines the parse of a user-agent string with User-Agent Client
// Hints headers, which Chromium browsers send beside a reduced string
// ("Windows NT 10.0" for Windows 11, "Android 10; K" for every Android
// device, "Chrome/120.0.0.0" for every 120 release, macOS frozen at 10.15.7).
// It reports whether it changed anything. Rules:
//
//   - Browser: the significant brand of Sec-CH-UA-Full-Version-List (else
//     Sec-CH-UA) is the first that is neither a GREASE brand ("Not?A_Brand")
//     nor "Chromium" (else "Chromium"). When it names the parsed family
//     ("Google Chrome" for Chrome or Chrome Mobile), its full version
//     replaces the reduced one (major.minor.build, as ua-parser gives it);
//     when the string only said Chrome or Chromium and the brand names
//     another Chromium browser (Brave, whose string is Chrome's), the
//     brand's family and version win. A brand that contradicts a specific
//     family is ignored (the string is trusted).
//   - OS: Sec-CH-UA-Platform-Version gives the real version when the
//     platform matches the parsed OS: on Windows, 13 and above is Windows 11,
//     1 to 10 is Windows 10, 0.1/0.2/0.3 are 7/8/8.1; elsewhere trailing ".0"
//     parts are dropped ("14.0.0" → "14", like ua-parser's "Android 14"). An
//     unparsed OS ("Other") takes the platform's family.
//   - Device: Sec-CH-UA-Model replaces the reduced Android model "K" (or an
//     unknown device) as device and model.
//
// Malformed header values are ignored, never an error.
func ApplyHints(a *schemas.UserAgent, hints map[string]string) bool {
	if len(hints) == 0 {
		return false
	}
	changed := applyBrand(a, hints)
	changed = applyPlatform(a, hints) || changed
	return applyModel(a, hints) || changed
}

func applyBrand(a *schemas.UserAgent, hints map[string]string) bool {
	list, full := hints[HintFullVersionList], true
	if list == "" {
		list, full = hints[HintBrands], false
	}
	brand, version, ok := significantBrand(list)
	if !ok {
		return false
	}
	fam, known := hintFamilies[brand]
	if !known {
		return false
	}
	v := version
	if !full {
		v = "" // the low-entropy list carries only the major version
	} else if parts := strings.Split(v, "."); len(parts) > 3 {
		v = strings.Join(parts[:3], ".")
	}
	switch {
	case a.Browser == fam || strings.HasPrefix(a.Browser, fam+" Mobile"):
		if v == "" || v == a.BrowserVersion || !sameMajor(v, a.BrowserVersion) {
			return false
		}
		a.BrowserVersion = v
		return true
	case (a.Browser == "Chrome" || a.Browser == "Chrome Mobile" || a.Browser == "Chromium") && fam != "Chrome" && fam != "Chromium":
		a.Browser = fam
		if v == "" {
			v = version
		}
		a.BrowserVersion = v
		return true
	}
	return false
}

func sameMajor(a, b string) bool {
	ma, _, _ := strings.Cut(a, ".")
	mb, _, _ := strings.Cut(b, ".")
	return mb == "" || ma == mb
}

// significantBrand reads a structured-field list of brands
// (`"Chromium";v="120", "Google Chrome";v="120", "Not?A_Brand";v="24"`).
func significantBrand(list string) (brand, version string, ok bool) {
	var chromium string
	haveChromium := false
	for _, item := range splitList(list) {
		name, rest, found := unquote(strings.TrimSpace(item))
		if !found || name == "" {
			continue
		}
		v := ""
		for _, p := range strings.Split(rest, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "v" {
				v, _, _ = unquote(strings.TrimSpace(val))
			}
		}
		low := strings.ToLower(name)
		switch {
		case strings.Contains(low, "not") && strings.Contains(low, "brand"): // GREASE
		case name == "Chromium":
			chromium, haveChromium = v, true
		default:
			return name, v, true
		}
	}
	if haveChromium {
		return "Chromium", chromium, true
	}
	return "", "", false
}

// splitList splits on commas outside quoted strings.
func splitList(s string) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// unquote reads a structured-field string at the start of s and returns it
// and what follows; a bare token is returned as is.
func unquote(s string) (string, string, bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] != '"' {
		tok, rest, _ := strings.Cut(s, ";")
		return tok, rest, true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false // unterminated
}

func applyPlatform(a *schemas.UserAgent, hints map[string]string) bool {
	platform, _, ok := unquote(strings.TrimSpace(hints[HintPlatform]))
	if !ok {
		return false
	}
	fam, known := hintPlatforms[platform]
	if !known {
		return false
	}
	changed := false
	if a.OS == "" || a.OS == "Other" {
		a.OS, a.OSVersion, changed = fam, "", true
	}
	if a.OS != fam {
		return changed
	}
	pv, _, ok := unquote(strings.TrimSpace(hints[HintPlatformVersion]))
	if !ok || pv == "" {
		return changed
	}
	var v string
	if fam == "Windows" {
		v = windowsVersion(pv)
	} else {
		v = trimZeros(pv)
	}
	if v == "" || v == a.OSVersion {
		return changed
	}
	a.OSVersion = v
	return true
}

// windowsVersion maps Windows' platform version (the UniversalApiContract
// version) to the marketing version.
func windowsVersion(pv string) string {
	majStr, minStr, _ := strings.Cut(pv, ".")
	maj, err := strconv.Atoi(majStr)
	if err != nil {
		return ""
	}
	switch {
	case maj >= 13:
		return "11"
	case maj >= 1:
		return "10"
	}
	minor, _, _ := strings.Cut(minStr, ".")
	switch minor {
	case "1":
		return "7"
	case "2":
		return "8"
	case "3":
		return "8.1"
	}
	return ""
}

func trimZeros(v string) string {
	parts := strings.Split(v, ".")
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return ""
		}
	}
	for len(parts) > 1 && parts[len(parts)-1] == "0" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, ".")
}

func applyModel(a *schemas.UserAgent, hints map[string]string) bool {
	model, _, ok := unquote(strings.TrimSpace(hints[HintModel]))
	if !ok || model == "" || model == a.DeviceModel {
		return false
	}
	if a.DeviceModel == "K" || a.Device == "K" || a.Device == "" || a.Device == "Other" || a.Device == "Generic Smartphone" {
		a.Device, a.DeviceModel = model, model
		if a.DeviceBrand == "Generic_Android" {
			a.DeviceBrand = ""
		}
		return true
	}
	return false
}

// HintsFromContext reads the client hints that Segment's analytics.js puts
// in context.userAgentData (navigator.userAgentData: brands, platform,
// mobile, and with its highEntropyValuesClientHints option fullVersionList,
// platformVersion, model) into the header form ApplyHints reads. It returns
// nil when the context has none; it costs a JSON parse only when the text
// contains "userAgentData".
func HintsFromContext(contextJSON string) map[string]string {
	if !strings.Contains(contextJSON, `"userAgentData"`) {
		return nil
	}
	v, err := fastjson.Parse(contextJSON)
	if err != nil {
		return nil
	}
	d := v.Get("userAgentData")
	if d == nil || d.Type() != fastjson.TypeObject {
		return nil
	}
	hints := map[string]string{}
	brandList := func(key string) string {
		var parts []string
		for _, b := range d.Get(key).GetArray() {
			name, ver := string(b.GetStringBytes("brand")), string(b.GetStringBytes("version"))
			if name != "" {
				parts = append(parts, strconv.Quote(name)+";v="+strconv.Quote(ver))
			}
		}
		return strings.Join(parts, ", ")
	}
	if l := brandList("brands"); l != "" {
		hints[HintBrands] = l
	}
	if l := brandList("fullVersionList"); l != "" {
		hints[HintFullVersionList] = l
	}
	for key, header := range map[string]string{"platform": HintPlatform, "platformVersion": HintPlatformVersion, "model": HintModel} {
		if s := d.GetStringBytes(key); len(s) > 0 {
			hints[header] = strconv.Quote(string(s))
		}
	}
	if len(hints) == 0 {
		return nil
	}
	return hints
}
