package bots

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/enricher/internal/shareddata"
)

var (
	sharedOnce sync.Once
	sharedDet  *Detector
	sharedErr  error
)

// testDetector returns a detector with the default config, built once.
func testDetector(tb testing.TB) *Detector {
	tb.Helper()
	sharedOnce.Do(func() { sharedDet, sharedErr = New(DefaultConfig()) })
	require.NoError(tb, sharedErr)
	return sharedDet
}

func newDetector(tb testing.TB, cfg Config) *Detector {
	tb.Helper()
	d, err := New(cfg)
	require.NoError(tb, err)
	return d
}

type uapCase struct {
	UA     string `yaml:"user_agent_string"`
	Family string `yaml:"family"`
}

// uapFiles are the ua-parser test files of user agents (browsers, apps,
// tools and bots, each with its expected family).
var uapFiles = []string{
	"tests/test_ua.yaml",
	"test_resources/firefox_user_agent_strings.yaml",
	"test_resources/opera_mini_user_agent_strings.yaml",
	"test_resources/podcasting_user_agent_strings.yaml",
	"test_resources/pgts_browser_list.yaml",
}

func loadUAP(tb testing.TB, rel string) []uapCase {
	tb.Helper()
	b, err := os.ReadFile(shareddata.Path(tb, filepath.Join("useragent/uap-core", rel)))
	require.NoError(tb, err)
	var doc struct {
		Cases []uapCase `yaml:"test_cases"`
	}
	require.NoError(tb, yaml.Unmarshal(b, &doc), rel)
	require.NotEmpty(tb, doc.Cases, rel)
	return doc.Cases
}

func loadList(tb testing.TB) []crawlerEntry {
	tb.Helper()
	list, err := loadCrawlers()
	require.NoError(tb, err)
	return list
}

// naive is the reference: every rule's full test, in priority order, on
// every agent, without the prefilter.
func naive(d *Detector, ua string) int32 {
	low := asciiLower(ua)
	for i, r := range d.rules {
		if r.re != nil && r.re.MatchString(ua) || r.re == nil && strings.Contains(low, r.lits[0]) {
			return int32(i)
		}
	}
	return -1
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func reasonOf(d *Detector, r int32) string {
	if r < 0 {
		return ""
	}
	return d.rules[r].reason
}
