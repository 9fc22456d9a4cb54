package bots

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/ua-parser/uap-go/uaparser"
)

// The accuracy criterion of issue 4: every example agent of the crawler
// list is flagged — by the list alone, and with the heuristics in front.
func TestEveryCrawlerListInstanceIsFlagged(t *testing.T) {
	list := loadList(t)
	for _, heuristics := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Heuristics = heuristics
		d := newDetector(t, cfg)
		total, flagged := 0, 0
		for _, c := range list {
			for _, ua := range c.Instances {
				total++
				bot, reason := d.Check(ua, nil)
				if bot {
					flagged++
				}
				require.True(t, bot, "pattern %q, instance %q", c.Pattern, ua)
				require.NotEmpty(t, reason)
				if !heuristics {
					require.True(t, strings.HasPrefix(reason, KindCrawlerList+":"), reason)
				}
			}
		}
		require.Equal(t, 2116, total, "the pinned list has 2,116 instances")
		t.Logf("heuristics=%v: %d of %d crawler-list instances flagged", heuristics, flagged, total)
	}
}

// The prefilter must never change an answer: on every agent of the list and
// of ua-parser's test files, scan gives the rule the naive loop over every
// rule's regexp gives.
func TestScanMatchesNaive(t *testing.T) {
	d := testDetector(t)
	var uas []string
	for _, c := range loadList(t) {
		uas = append(uas, c.Instances...)
	}
	for _, f := range uapFiles {
		for i, c := range loadUAP(t, f) {
			// pgts is 12,500 agents: every fifth keeps the test short;
			// BOTS_FULL=1 takes them all.
			if !strings.Contains(f, "pgts") || i%5 == 0 || os.Getenv("BOTS_FULL") != "" {
				uas = append(uas, c.UA)
			}
		}
	}
	for _, ua := range uas {
		if len(ua) > MaxLen {
			ua = ua[:MaxLen]
		}
		require.Equal(t, reasonOf(d, naive(d, ua)), reasonOf(d, d.scan(ua)), "agent %q", ua)
	}
	t.Logf("%d agents agree with the naive scan", len(uas))
}

// browserFalsePositives are the real browsers and in-app browsers of
// ua-parser's test files that are flagged, with the list entry to blame.
// Each is a list entry too broad for its crawler; Config.Ignore can drop it.
var browserFalsePositives = map[string]string{
	// Android 15 build id of OPPO/OnePlus phones, listed for 80legs.
	"HeyTap Browser": `crawler-list:AP3A\.240617\.008`,
	// "Opera Mini/4.4.39008/…": the list's "008\/" (80legs) has no left bound.
	"Opera Mini": `crawler-list:008\/`,
	// The WIRED iPad app ("WIRED/3.2"): "RED\/" (REDbot) has no left bound.
	"WIRE": `crawler-list:RED\/`,
}

// Not counted above, because ua-parser too calls them "Spider": 13 pgts
// agents of Internet Explorer 6 with Ask's "TeomaBar" toolbar, flagged by
// the list's "Teoma" (Ask's crawler).

// toolFamilies are ua-parser families of flagged agents that are not
// browsers but that ua-parser does not class as "Spider" devices: HTTP
// libraries and tools, monitors, feed and podcast fetchers, scanners,
// headless browsers, and a few crawlers ua-parser names as browsers.
var toolFamilies = strings.Split("AHC|Apache-HttpClient|Catchpoint|DAVdroid|FME|Feedbin|GmailImageProxy|"+
	"Go-http-client|Googlebot|GuzzleHttp|HTTPie|HTTrack|HeadlessChrome|JOSM|Java|Jersey|Mediapartners-Google|"+
	"Monitis|OpenVAS Scanner|Other|Overcast|PHPCrawl|PhantomJS|PingdomBot|PostmanRuntime|PycURL|"+
	"Python Requests|Python aiohttp|Python-urllib|RackspaceBot|Ruxit Synthetic|Site24x7|Tiny Tiny RSS|"+
	"Web-sniffer|Wget|aws-sdk-java|axios|curl|got|ibm-cos-sdk-java|libcurl-agent|libwww-perl|msnbot|"+
	"okhttp|reqwest|unirest-java|wget2|ESPN", "|")

// Real browsers are not flagged: of the agents of ua-parser's test files
// that are flagged, those ua-parser does not class as bots ("Spider"
// device) must be tools, or one of the listed false positives.
func TestBrowsersAreNotFlagged(t *testing.T) {
	d := testDetector(t)
	regexes, err := os.ReadFile("../ua/regexes.yaml")
	require.NoError(t, err)
	up, err := uaparser.NewFromBytes(regexes)
	require.NoError(t, err)
	tools := map[string]bool{}
	for _, f := range toolFamilies {
		tools[f] = true
	}
	var report []string
	seen := map[string]bool{}
	for _, f := range uapFiles {
		cases := loadUAP(t, f)
		flagged, fps := 0, 0
		for _, c := range cases {
			bot, reason := d.Check(c.UA, nil)
			if !bot {
				continue
			}
			flagged++
			if up.ParseDevice(c.UA).Family == "Spider" || tools[c.Family] {
				continue
			}
			want, ok := browserFalsePositives[c.Family]
			require.True(t, ok, "%s: browser family %q flagged (%s): %q", f, c.Family, reason, c.UA)
			require.Equal(t, want, reason, "%s: %q", f, c.UA)
			seen[c.Family] = true
			fps++
		}
		report = append(report, fmt.Sprintf("%s: %d agents, %d flagged, %d browser false positives", f, len(cases), flagged, fps))
	}
	require.Len(t, seen, len(browserFalsePositives), "a listed false positive no longer happens: update the list")
	sort.Strings(report)
	for _, r := range report {
		t.Log(r)
	}
}

func TestHeuristics(t *testing.T) {
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	tests := []struct {
		name   string
		ua     string
		hints  map[string]string
		bot    bool
		reason string
	}{
		{"browser", chrome, nil, false, ""},
		{"empty", "", nil, true, ReasonEmpty},
		{"blank", "  \t", nil, true, ReasonEmpty},
		{"headless chrome", strings.Replace(chrome, "Chrome/", "HeadlessChrome/", 1), nil, true, "headless:HeadlessChrome"},
		{"case-insensitive", "mozilla/5.0 HEADLESSCHROME/120", nil, true, "headless:HeadlessChrome"},
		{"phantomjs", "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", nil, true, "headless:PhantomJS"},
		{"selenium", chrome + " Selenium", nil, true, "headless:Selenium"},
		{"puppeteer", chrome + " Puppeteer/22", nil, true, "headless:Puppeteer"},
		{"curl inside", "Mozilla/5.0 (compatible) curl/8.4.0", nil, true, "http-client:curl/"},
		{"curl first is the list's", "curl/8.4.0", nil, true, `crawler-list:^curl`},
		{"java library", "Java/1.8.0_151", nil, true, "http-client:Java/"},
		{"java after a space", "JOSM/1.5 (15492 nl) Windows 7 64-Bit Java/1.8.0_221", nil, true, "http-client:Java/"},
		{"j2me phone browser", "Mozilla/4.0 (Vodafone/1.0/LG-GU280/v10a Browser/Obigo-Q7.3 MMS/LG-MMS-V1.0/1.2 Java/ASVM/1.1 Profile/MIDP-2.1 Configuration/CLDC-1.1)", nil, false, ""},
		{"restsharp", "RestSharp/110.2.0.0", nil, true, "http-client:RestSharp"},
		{"undici", "undici", nil, true, "http-client:undici"},
		{"powershell", "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.1", nil, true, "http-client:WindowsPowerShell"},
		{"ruby net/http", "Ruby", nil, true, "http-client:Ruby"},
		{"ruby in a browser", "Mozilla/5.0 (Linux; Android 4.0; HTC_Ruby) AppleWebKit/534.30 Mobile Safari/534.30", nil, false, ""},
		{"postman", "PostmanRuntime/7.36.0", nil, true, "http-client:PostmanRuntime"},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", nil, true, `crawler-list:Googlebot\/`},
		{"headless client hint", chrome, map[string]string{"sec-ch-ua": `"HeadlessChrome";v="124", "Chromium";v="124"`}, true, "client-hint:headless"},
		{"headless full version list", chrome, map[string]string{"sec-ch-ua-full-version-list": `"HeadlessChrome";v="124.0.6367.60"`}, true, "client-hint:headless"},
		{"normal client hint", chrome, map[string]string{"sec-ch-ua": `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`, "sec-ch-ua-mobile": "?0"}, false, ""},
		{"agent wins over hint", "curl/8", map[string]string{"sec-ch-ua": `"HeadlessChrome"`}, true, `crawler-list:^curl`},
		{"marker past MaxLen is not seen", chrome + strings.Repeat(" x", MaxLen) + " Googlebot/2.1", nil, false, ""},
		{"invalid utf-8", "\xff\xfe Googlebot/2.1", nil, true, `crawler-list:Googlebot\/`},
	}
	d := testDetector(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot, reason := d.Check(tt.ua, tt.hints)
			require.Equal(t, tt.bot, bot)
			require.Equal(t, tt.reason, reason)
		})
	}
}

func TestHeuristicsOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Heuristics = false
	d := newDetector(t, cfg)
	for _, ua := range []string{"", "Mozilla/5.0 Cypress/13", "RestSharp/110.2.0.0"} {
		bot, _ := d.Check(ua, map[string]string{"sec-ch-ua": `"HeadlessChrome"`})
		require.False(t, bot, ua)
	}
	bot, reason := d.Check("Mozilla/5.0 HeadlessChrome/120", nil)
	require.True(t, bot)
	require.Equal(t, "crawler-list:HeadlessChrome", reason)
}

// The HTTP-client markers exist for what the list misses: each example
// must not be flagged by the list alone (else the marker is dead weight).
func TestHTTPClientMarkersAreNotInTheList(t *testing.T) {
	examples := map[string]string{
		"curl/": "Mozilla/5.0 curl/8.4.0", "libcurl": "libcurl-agent/1.0", "Java/": "Java/17.0.6", "Java-http-client": "Java-http-client/17.0.6",
		"undici": "undici", "GuzzleHttp": "GuzzleHttp/7", "RestSharp": "RestSharp/110.2.0.0",
		"PostmanRuntime": "PostmanRuntime/7.36.0", "insomnia/": "insomnia/8.6.1", "reqwest/": "reqwest/0.12",
		"WindowsPowerShell": "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.1",
		"Faraday v":         "Faraday v2.9.0", "Ruby": "Ruby",
	}
	require.Len(t, examples, len(httpClientMarkers))
	cfg := DefaultConfig()
	cfg.Heuristics = false
	listOnly := newDetector(t, cfg)
	d := testDetector(t)
	for _, m := range httpClientMarkers {
		ua, ok := examples[m.name]
		require.True(t, ok, "no example for %s", m.name)
		bot, reason := listOnly.Check(ua, nil)
		require.False(t, bot, "%q is already in the list (%s): drop the marker %s", ua, reason, m.name)
		bot, reason = d.Check(ua, nil)
		require.True(t, bot, ua)
		require.Equal(t, KindHTTPClient+":"+m.name, reason)
	}
}

func TestIgnore(t *testing.T) {
	ua := "Mozilla/5.0 (Linux; U; Android 15; en-gb; CPH2617 Build/AP3A.240617.008) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.72 Mobile Safari/537.36 HeyTapBrowser/45.13.6.1"
	bot, _ := testDetector(t).Check(ua, nil)
	require.True(t, bot)
	cfg := DefaultConfig()
	cfg.Ignore = []string{`AP3A\.240617\.008`}
	bot, reason := newDetector(t, cfg).Check(ua, nil)
	require.False(t, bot, reason)

	cfg.Ignore = []string{"NoSuchBot"}
	_, err := New(cfg)
	require.ErrorContains(t, err, `bots.ignore: "NoSuchBot" is not a pattern`)
}

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for _, n := range []int{-1, 10_000_001} {
		c := DefaultConfig()
		c.CacheSize = n
		require.ErrorContains(t, c.Validate(), "bots.cache_size")
		_, err := New(c)
		require.ErrorContains(t, err, "bots.cache_size")
	}
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "enricher.bots-")
	require.NoError(t, fs.Parse([]string{"-enricher.bots-cache-size=5", "-enricher.bots-heuristics=false",
		`-enricher.bots-ignore=008\/`, `-enricher.bots-ignore=RED\/`}))
	require.Equal(t, Config{CacheSize: 5, Heuristics: false, Ignore: []string{`008\/`, `RED\/`}}, c)
}

func TestKind(t *testing.T) {
	for reason, kind := range map[string]string{
		ReasonEmpty: ReasonEmpty, "headless:PhantomJS": KindHeadless, `crawler-list:Googlebot\/`: KindCrawlerList,
		"http-client:curl/": KindHTTPClient, "client-hint:headless": KindClientHint, "": "",
	} {
		require.Equal(t, kind, Kind(reason), reason)
	}
}

// The cache gives the answers of a scan, including under concurrent use.
func TestCacheAgreesWithScan(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CacheSize = 64 // smaller than the working set: evictions happen
	cached := newDetector(t, cfg)
	cfg.CacheSize = 0
	uncached := newDetector(t, cfg)
	var uas []string
	for _, c := range loadUAP(t, "tests/test_ua.yaml") {
		uas = append(uas, c.UA)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 3 {
				for i := w; i < len(uas); i += 2 + round {
					b1, r1 := cached.Check(uas[i], nil)
					b2, r2 := uncached.Check(uas[i], nil)
					if b1 != b2 || r1 != r2 {
						t.Errorf("%q: cached (%v, %q), scanned (%v, %q)", uas[i], b1, r1, b2, r2)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestPatternsAllPrefiltered(t *testing.T) {
	d := testDetector(t)
	rules, unfiltered := d.Patterns()
	require.Equal(t, len(headlessMarkers)+len(loadList(t))+len(httpClientMarkers), rules)
	// Every pattern of the pinned list yields a literal of 3+ bytes; a list
	// update that breaks this still works (the pattern runs on every agent)
	// but costs time, so it should be looked at.
	require.Zero(t, unfiltered)
}
