package enricher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// realAgents returns n real browser user agents from uap-core's fixtures.
func realAgents(tb testing.TB, n int) []string {
	tb.Helper()
	b, err := os.ReadFile(shareddata.Path(tb, filepath.Join("useragent/uap-core/test_resources", "firefox_user_agent_strings.yaml")))
	require.NoError(tb, err)
	var doc struct {
		Cases []struct {
			UA string `yaml:"user_agent_string"`
		} `yaml:"test_cases"`
	}
	require.NoError(tb, yaml.Unmarshal(b, &doc))
	out := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
	}
	for i := 0; len(out) < n && i < len(doc.Cases); i += 3 {
		out = append(out, doc.Cases[i].UA)
	}
	return out
}

// benchEvents builds n encoded raw events: 2,000 visitors browsing in event
// time order, one in twenty events an identify, 30% without analytics
// consent, IPs in and out of the test database, a few hundred distinct
// agents (skewed towards the first ones) plus a share of never-seen agents,
// referrers of every medium and one in ten page URLs with a campaign.
func benchEvents(tb testing.TB, serde *schemas.Serde, n int, unseen float64) [][]byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	agents := realAgents(tb, 80)
	ips := []string{"81.2.69.160", "2.125.160.216", "89.160.20.128", "2a02:d3c0::1", "216.160.83.56", "67.43.156.1", "203.0.113.7", "10.0.0.1"}
	referrers := []string{"", "", "https://shop.example/cart", "https://www.google.com/search?q=running+shoes",
		"https://www.google.fr/", "https://l.facebook.com/l.php?u=x", "https://chatgpt.com/", "https://news.example.org/article/12"}
	campaigns := []string{"?utm_source=newsletter&utm_medium=email&utm_campaign=may", "?gclid=Cj0KCQiA", "?utm_source=facebook&utm_medium=social&fbclid=IwAR1"}
	clock := fixedNow.Add(-24 * time.Hour).UnixMilli()
	out := make([][]byte, n)
	for i := range out {
		clock += int64(rng.IntN(2000))
		v := rng.IntN(2000)
		raw := baseEvent(fmt.Sprintf("msg-%d", i), fmt.Sprintf("anon-%d", v), time.UnixMilli(clock))
		raw.SentAt = raw.Timestamp + 150
		raw.ReceivedAt = raw.Timestamp + 400
		raw.IP = ips[rng.IntN(len(ips))]
		raw.Consent.Analytics = rng.Float64() >= 0.3
		raw.PropertiesJSON = `{"product_id":"1005115","price":924.77,"category":"electronics.smartphone"}`
		if rng.IntN(20) == 0 {
			raw.Type, raw.UserID = "identify", fmt.Sprintf("user-%d", v)
		}
		a := agents[min(rng.IntN(len(agents)), rng.IntN(len(agents)))]
		if rng.Float64() < unseen {
			a = fmt.Sprintf("%s Unseen/%d.%d", a, i, rng.IntN(1000))
		}
		raw.UserAgent = a
		raw.PageReferrer = referrers[rng.IntN(len(referrers))]
		if rng.IntN(10) == 0 {
			raw.PageURL += campaigns[rng.IntN(len(campaigns))]
		}
		b, err := serde.Encode(schemas.KindRaw, &raw, nil)
		require.NoError(tb, err)
		out[i] = b
	}
	return out
}

// BenchmarkEnrich measures the per-event cost of the task: Avro decode,
// checks, time, consent, GeoIP (city database), user agent, identity,
// session, Avro encode, with a Tick (session flush) every 2,000 records as
// the runner does per batch. unseen is the share of agents never seen before.
func BenchmarkEnrich(b *testing.B) {
	for _, unseen := range []float64{0, 0.001, 0.05} {
		b.Run(fmt.Sprintf("unseen=%.1f%%", unseen*100), func(b *testing.B) {
			h := newHarness(b, geoConfig(b))
			p := h.newPartition(b, nil)
			// Warm the cache with the known agents, as a running stage has.
			for _, a := range realAgents(b, 80) {
				h.e.ua.Parse(a)
			}
			for _, v := range benchEvents(b, h.serde, 2000, 0) {
				p.feed(b, "k", v)
			}
			p.tick(b)
			values := benchEvents(b, h.serde, b.N, unseen)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := &kgo.Record{Topic: testTopics.Raw, Partition: 3, Offset: int64(i), Key: []byte("k"), Value: values[i], Timestamp: fixedNow}
				if err := p.task.Process(ctx, rec, p.out); err != nil {
					b.Fatal(err)
				}
				if i%2000 == 1999 {
					_ = p.task.Tick(ctx, fixedNow, p.out)
					p.out = &stream.Output{}
					p.consumed = 0
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEnrichOnly is the enrichment alone, without Avro decoding and
// encoding (schemas' cost): checks, time, consent, GeoIP, cached user
// agent, identity, session.
func BenchmarkEnrichOnly(b *testing.B) {
	h := newHarness(b, geoConfig(b))
	p := h.newPartition(b, nil)
	t := p.task.(*task)
	for _, a := range realAgents(b, 80) {
		h.e.ua.Parse(a)
	}
	const n = 8192
	raws := make([]*schemas.RawEvent, n)
	for i, v := range benchEvents(b, h.serde, n, 0) {
		raw, err := h.serde.DecodeRaw(context.Background(), v)
		require.NoError(b, err)
		raws[i] = raw
	}
	var ev schemas.EnrichedEvent
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev = schemas.EnrichedEvent{}
		if r := t.enrich(raws[i%n], fixedNow.UnixMilli(), &ev); r != nil {
			b.Fatal(r.detail)
		}
		if i%2000 == 1999 {
			t.sessions.Flush()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
