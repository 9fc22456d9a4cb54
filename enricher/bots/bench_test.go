package bots

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// benchMix is a realistic stream of agents: 85% browsers drawn from a
// working set of real ones (firefox and opera_mini test files and the
// Mozilla-style agents of test_ua, bots excluded), 10% crawler-list
// instances, 5% browser agents never seen before (a build number made
// unique, as new browser versions and device models appear).
func benchMix(tb testing.TB, d *Detector, n int) []string {
	tb.Helper()
	var browsers, bots []string
	for _, f := range uapFiles[:3] {
		for _, c := range loadUAP(tb, f) {
			if ok, _ := d.Check(c.UA, nil); !ok && strings.HasPrefix(c.UA, "Mozilla/5.0") {
				browsers = append(browsers, c.UA)
			}
		}
	}
	for _, c := range loadList(tb) {
		bots = append(bots, c.Instances...)
	}
	r := rand.New(rand.NewPCG(1, 2))
	mix := make([]string, n)
	for i := range mix {
		switch p := r.IntN(100); {
		case p < 85:
			mix[i] = browsers[r.IntN(len(browsers))]
		case p < 95:
			mix[i] = bots[r.IntN(len(bots))]
		default:
			mix[i] = strings.Replace(browsers[r.IntN(len(browsers))], "Mozilla/5.0", "Mozilla/5.0 ("+strconv.Itoa(i)+")", 1)
		}
	}
	return mix
}

func benchCheck(b *testing.B, cfg Config) {
	d := newDetector(b, cfg)
	// 2^20 agents of which ~52,000 unseen ones: more than the cache holds,
	// so they are still unseen when the loop wraps around.
	mix := benchMix(b, d, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Check(mix[i%len(mix)], nil)
	}
}

// BenchmarkCheckMix is the enricher's case: cache on, realistic mix.
func BenchmarkCheckMix(b *testing.B) { benchCheck(b, DefaultConfig()) }

// BenchmarkCheckMixNoCache scans every agent.
func BenchmarkCheckMixNoCache(b *testing.B) {
	cfg := DefaultConfig()
	cfg.CacheSize = 0
	benchCheck(b, cfg)
}

// BenchmarkScanBrowser is the cost of an unseen browser agent.
func BenchmarkScanBrowser(b *testing.B) {
	cfg := DefaultConfig()
	cfg.CacheSize = 0
	d := newDetector(b, cfg)
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		d.Check(ua, nil)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
}
