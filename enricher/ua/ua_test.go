package ua

import (
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/schemas"
)

var full = flag.Bool("ua.full", false, "check every uap-core case (31,327) instead of a sample; with the prefilter differential, about 90 s")

var (
	sharedOnce   sync.Once
	sharedParser *Parser
	sharedErr    error
)

// testParser returns one parser for the package's tests: compiling the
// regexes takes a noticeable fraction of a second.
func testParser(tb testing.TB) *Parser {
	tb.Helper()
	sharedOnce.Do(func() { sharedParser, sharedErr = New(50_000) })
	require.NoError(tb, sharedErr)
	return sharedParser
}

type uapCase struct {
	UA         string `yaml:"user_agent_string"`
	Family     string `yaml:"family"`
	Major      string `yaml:"major"`
	Minor      string `yaml:"minor"`
	Patch      string `yaml:"patch"`
	PatchMinor string `yaml:"patch_minor"`
	Brand      string `yaml:"brand"`
	Model      string `yaml:"model"`
}

func loadCases(tb testing.TB, rel string) []uapCase {
	tb.Helper()
	b, err := os.ReadFile(shareddata.Path(tb, filepath.Join("useragent/uap-core", rel)))
	require.NoError(tb, err)
	var doc struct {
		Cases []uapCase `yaml:"test_cases"`
	}
	require.NoError(tb, yaml.Unmarshal(b, &doc))
	require.NotEmpty(tb, doc.Cases, rel)
	return doc.Cases
}

// sample keeps about n cases spread evenly over the file, or all with -ua.full.
func sample(cases []uapCase, n int) []uapCase {
	if *full || len(cases) <= n {
		return cases
	}
	out := make([]uapCase, 0, n)
	step := float64(len(cases)) / float64(n)
	for i := 0; i < n; i++ {
		out = append(out, cases[int(float64(i)*step)])
	}
	return out
}

func TestUAPCoreFixtures(t *testing.T) {
	p := testParser(t)
	tests := []struct {
		file  string
		n     int
		check func(t *testing.T, c uapCase, got schemas.UserAgent)
	}{
		{"tests/test_ua.yaml", 150, checkBrowser},
		{"test_resources/firefox_user_agent_strings.yaml", 30, checkBrowser},
		{"test_resources/pgts_browser_list.yaml", 100, checkBrowser},
		{"test_resources/opera_mini_user_agent_strings.yaml", 20, checkBrowser},
		{"test_resources/podcasting_user_agent_strings.yaml", 20, checkBrowser},
		{"tests/test_os.yaml", 100, checkOS},
		{"test_resources/additional_os_tests.yaml", 23, checkOS},
		{"tests/test_device.yaml", 150, checkDevice},
	}
	total := 0
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			cases := sample(loadCases(t, tt.file), tt.n)
			total += len(cases)
			for _, c := range cases {
				if c.UA == "" {
					// ua-parser answers "Other" for an empty string; Sillage
					// keeps "no agent" distinct from "unknown agent".
					require.Equal(t, schemas.UserAgent{}, p.Parse(c.UA))
					continue
				}
				tt.check(t, c, p.Parse(c.UA))
			}
		})
	}
	t.Logf("checked %d uap-core cases (-ua.full checks all 31,327)", total)
}

func checkBrowser(t *testing.T, c uapCase, got schemas.UserAgent) {
	require.Equal(t, c.Family, got.Browser, "browser family of %q", c.UA)
	require.Equal(t, Version(c.Major, c.Minor, c.Patch), got.BrowserVersion, "browser version of %q", c.UA)
}

func checkOS(t *testing.T, c uapCase, got schemas.UserAgent) {
	require.Equal(t, c.Family, got.OS, "OS family of %q", c.UA)
	require.Equal(t, Version(c.Major, c.Minor, c.Patch, c.PatchMinor), got.OSVersion, "OS version of %q", c.UA)
}

func checkDevice(t *testing.T, c uapCase, got schemas.UserAgent) {
	require.Equal(t, c.Family, got.Device, "device family of %q", c.UA)
	require.Equal(t, c.Brand, got.DeviceBrand, "device brand of %q", c.UA)
	require.Equal(t, c.Model, got.DeviceModel, "device model of %q", c.UA)
}

func TestParseCommonAgents(t *testing.T) {
	p := testParser(t)
	tests := []struct {
		name string
		ua   string
		want schemas.UserAgent
	}{
		{"empty", "", schemas.UserAgent{}},
		{"garbage", "not a browser at all", schemas.UserAgent{Browser: "Other", OS: "Other", Device: "Other"}},
		{
			"chrome on windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "10", Device: "Other"},
		},
		{
			"safari on iphone",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			schemas.UserAgent{Browser: "Mobile Safari", BrowserVersion: "17.1", OS: "iOS", OSVersion: "17.1", Device: "iPhone", DeviceBrand: "Apple", DeviceModel: "iPhone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, p.Parse(tt.ua))
		})
	}
}

func TestCacheAndLongAgents(t *testing.T) {
	p, err := New(2)
	require.NoError(t, err)
	a := "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
	first := p.Parse(a)
	require.True(t, p.Cached(a))
	require.Equal(t, first, p.Parse(a))
	require.Equal(t, "Firefox", first.Browser)

	long := a + " " + string(make([]byte, 3*MaxLen))
	require.Equal(t, first.Browser, p.Parse(long).Browser, "a long agent is parsed by its prefix")
	require.True(t, p.Cached(long))

	p.Parse("agent b")
	p.Parse("agent c")
	require.False(t, p.Cached(a), "least recently used entry evicted at capacity 2")
}

func TestNewRejectsBadCacheSize(t *testing.T) {
	_, err := New(0)
	require.ErrorContains(t, err, "cache size 0")
}

func TestVersion(t *testing.T) {
	require.Equal(t, "", Version("", "", ""))
	require.Equal(t, "1", Version("1", "", "3"))
	require.Equal(t, "1.2.3.4", Version("1", "2", "3", "4"))
}

func BenchmarkParseCached(b *testing.B) {
	p := testParser(b)
	a := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	p.Parse(a)
	b.ReportAllocs()
	for b.Loop() {
		p.Parse(a)
	}
}
