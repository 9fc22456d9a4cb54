package ua

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

const (
	reducedWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	reducedAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
	reducedMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	reducedEdge    = reducedWindows + " Edg/120.0.0.0"
	firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
)

func TestApplyHints(t *testing.T) {
	p := testParser(t)
	tests := []struct {
		name  string
		ua    string
		hints map[string]string
		want  schemas.UserAgent
	}{
		{"Chrome on Windows 11 with high-entropy hints", reducedWindows, map[string]string{
			HintFullVersionList: `"Not_A Brand";v="8.0.0.0", "Chromium";v="120.0.6099.130", "Google Chrome";v="120.0.6099.130"`,
			HintPlatform:        `"Windows"`, HintPlatformVersion: `"15.0.0"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.6099", OS: "Windows", OSVersion: "11", Device: "Other"}},
		{"Windows 10 stays 10", reducedWindows, map[string]string{
			HintPlatform: `"Windows"`, HintPlatformVersion: `"10.0.0"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"Windows 8.1", reducedWindows, map[string]string{
			HintPlatform: `"Windows"`, HintPlatformVersion: `"0.3.0"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "8.1", Device: "Other"}},
		{"Android reduced model K", reducedAndroid, map[string]string{
			HintFullVersionList: `"Google Chrome";v="120.0.6099.144", "Chromium";v="120.0.6099.144", "Not?A_Brand";v="24.0.0.0"`,
			HintPlatform:        `"Android"`, HintPlatformVersion: `"14.0.0"`, HintModel: `"Pixel 8"`,
		}, schemas.UserAgent{Browser: "Chrome Mobile", BrowserVersion: "120.0.6099", OS: "Android", OSVersion: "14", Device: "Pixel 8", DeviceModel: "Pixel 8"}},
		{"macOS frozen at 10.15.7", reducedMac, map[string]string{
			HintPlatform: `"macOS"`, HintPlatformVersion: `"14.2.1"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Mac OS X", OSVersion: "14.2.1", Device: "Mac", DeviceBrand: "Apple", DeviceModel: "Mac"}},
		{"Brave looks like Chrome but for its brand", reducedWindows, map[string]string{
			HintBrands: `"Not_A Brand";v="8", "Chromium";v="120", "Brave";v="120"`,
		}, schemas.UserAgent{Browser: "Brave", BrowserVersion: "120", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"Edge keeps its family, takes the full version", reducedEdge, map[string]string{
			HintFullVersionList: `"Not_A Brand";v="8.0.0.0", "Chromium";v="120.0.6099.130", "Microsoft Edge";v="120.0.2210.91"`,
		}, schemas.UserAgent{Browser: "Edge", BrowserVersion: "120.0.2210", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"low-entropy brands do not change the version", reducedWindows, map[string]string{
			HintBrands: `"Chromium";v="120", "Google Chrome";v="120", "Not?A_Brand";v="24"`, "sec-ch-ua-mobile": "?0",
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"a brand contradicting the string is ignored", firefoxWindows, map[string]string{
			HintFullVersionList: `"Google Chrome";v="120.0.6099.130"`, HintPlatform: `"macOS"`, HintPlatformVersion: `"14.0.0"`,
		}, schemas.UserAgent{Browser: "Firefox", BrowserVersion: "121.0", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"a version of another major is ignored", reducedWindows, map[string]string{
			HintFullVersionList: `"Google Chrome";v="119.0.6045.200"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"malformed values are ignored", reducedWindows, map[string]string{
			HintFullVersionList: `"Google Chrome;v="12`, HintPlatform: `Windows"`, HintPlatformVersion: `"x.y"`, HintModel: `"`,
		}, schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Windows", OSVersion: "10", Device: "Other"}},
		{"an unparsed OS takes the platform", "SomeApp/1.0", map[string]string{
			HintPlatform: `"Linux"`,
		}, schemas.UserAgent{Browser: "Other", OS: "Linux", Device: "Other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Parse(tt.ua)
			before := got
			changed := ApplyHints(&got, tt.hints)
			require.Equal(t, tt.want, got)
			require.Equal(t, before != got, changed, "reports whether it changed")
		})
	}
	require.False(t, ApplyHints(&schemas.UserAgent{Browser: "Chrome"}, nil))
}

func FuzzApplyHints(f *testing.F) {
	f.Add(`"Chromium";v="120.0.1.2", "Brave";v="120"`, `"Windows"`, `"15.0.0"`, `"Pixel 8"`)
	f.Add(`"\"`, `"`, `0.`, `\`)
	f.Fuzz(func(t *testing.T, brands, platform, version, model string) {
		a := schemas.UserAgent{Browser: "Chrome", BrowserVersion: "120.0.0", OS: "Other", Device: "K", DeviceModel: "K"}
		ApplyHints(&a, map[string]string{HintFullVersionList: brands, HintBrands: brands, HintPlatform: platform,
			HintPlatformVersion: version, HintModel: model})
	})
}

func TestHintsFromContext(t *testing.T) {
	ctx := `{"library":{"name":"analytics.js"},"userAgentData":{"brands":[{"brand":"Chromium","version":"120"},{"brand":"Google Chrome","version":"120"}],` +
		`"mobile":true,"platform":"Android","fullVersionList":[{"brand":"Google Chrome","version":"120.0.6099.144"}],"platformVersion":"14.0.0","model":"Pixel \"8\""}}`
	h := HintsFromContext(ctx)
	require.Equal(t, map[string]string{
		HintBrands:          `"Chromium";v="120", "Google Chrome";v="120"`,
		HintFullVersionList: `"Google Chrome";v="120.0.6099.144"`,
		HintPlatform:        `"Android"`,
		HintPlatformVersion: `"14.0.0"`,
		HintModel:           `"Pixel \"8\""`,
	}, h)
	a := testParser(t).Parse(reducedAndroid)
	require.True(t, ApplyHints(&a, h))
	require.Equal(t, schemas.UserAgent{Browser: "Chrome Mobile", BrowserVersion: "120.0.6099", OS: "Android", OSVersion: "14", Device: `Pixel "8"`, DeviceModel: `Pixel "8"`}, a)

	for _, c := range []string{"", `{}`, `{"userAgentData":null}`, `{"userAgentData":{}}`, `{"userAgentData":"x"}`, `{"userAgentData":`} {
		require.Nil(t, HintsFromContext(c), c)
	}
}
