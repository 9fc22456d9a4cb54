package collector

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestConfigFromYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	require.NoError(t, err)
	cfg := DefaultConfig()
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	require.NoError(t, cfg.Validate())
	want := DefaultConfig()
	want.Addr, want.MaxBodyBytes, want.MaxEventBytes = ":9090", 256000, 16384
	want.ProduceTimeout, want.RetryAfter = 3*time.Second, 10*time.Second
	want.MaxConcurrentRequests = 2048
	want.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.10"}
	want.Sources = []Source{
		{Name: "web", WriteKey: "wk_live_123", AllowedOrigins: []string{"https://shop.example", "https://www.shop.example"},
			RateLimit: RateLimit{EventsPerSecond: 200, Burst: 1000}},
		{Name: "backend", WriteKey: "wk_srv_456"},
	}
	require.Equal(t, want, cfg)
}

func TestConfigFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"-collector.addr=:1234", "-collector.produce-timeout=1s",
		"-collector.source=demo:sillage-demo:*", "-collector.source=web:wk1:https://a.example,https://b.example",
	}))
	require.Equal(t, ":1234", cfg.Addr)
	require.Equal(t, time.Second, cfg.ProduceTimeout)
	require.Equal(t, []Source{
		{Name: "demo", WriteKey: "sillage-demo", AllowedOrigins: []string{"*"}},
		{Name: "web", WriteKey: "wk1", AllowedOrigins: []string{"https://a.example", "https://b.example"}},
	}, cfg.Sources)
	require.NoError(t, cfg.Validate())
	require.ErrorContains(t, fs.Parse([]string{"-collector.source=nokey"}), "NAME:WRITE_KEY")
}

func TestConfigProtectionFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"-collector.source=web:wk1", "-collector.source=app:wk2",
		"-collector.rate-limit=web:50", "-collector.rate-limit=app:0.5:10",
		"-collector.trusted-proxy=10.0.0.0/8", "-collector.trusted-proxy=2001:db8::1",
		"-collector.max-concurrent-requests=7", "-collector.max-connections=9",
	}))
	require.Equal(t, RateLimit{EventsPerSecond: 50}, cfg.Sources[0].RateLimit)
	require.Equal(t, 50, cfg.Sources[0].RateLimit.burst(), "burst defaults to the rate")
	require.Equal(t, RateLimit{EventsPerSecond: 0.5, Burst: 10}, cfg.Sources[1].RateLimit)
	require.Equal(t, 1, RateLimit{EventsPerSecond: 0.5}.burst())
	require.Equal(t, []string{"10.0.0.0/8", "2001:db8::1"}, cfg.TrustedProxies)
	require.Equal(t, 7, cfg.MaxConcurrentRequests)
	require.Equal(t, 9, cfg.MaxConnections)
	require.NoError(t, cfg.Validate())

	for arg, want := range map[string]string{
		"-collector.rate-limit=nobody:5":    `no source named "nobody"`,
		"-collector.rate-limit=web":         "NAME:EVENTS_PER_SECOND",
		"-collector.rate-limit=web:-1":      "positive number",
		"-collector.rate-limit=web:1:0":     "burst must be",
		"-collector.trusted-proxy=internal": "is not a CIDR",
	} {
		c := DefaultConfig()
		c.Sources = []Source{{Name: "web", WriteKey: "k"}}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.RegisterFlags(fs)
		require.ErrorContains(t, fs.Parse([]string{arg}), want, arg)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"no sources", func(c *Config) { c.Sources = nil }, []string{"collector.sources: at least one source"}},
		{"missing addr", func(c *Config) { c.Addr = "" }, []string{"collector.addr: required"}},
		{"tiny event limit", func(c *Config) { c.MaxEventBytes = 10 }, []string{"collector.max_event_bytes: 10"}},
		{"body below event", func(c *Config) { c.MaxBodyBytes = 2000; c.MaxEventBytes = 4000 }, []string{"collector.max_body_bytes: 2000 is below"}},
		{"zero timeout", func(c *Config) { c.ProduceTimeout = 0 }, []string{"collector.produce_timeout: 0s"}},
		{"sub-second retry-after", func(c *Config) { c.RetryAfter = time.Millisecond }, []string{"collector.retry_after: 1ms, want at least 1s"}},
		{"source without name or key", func(c *Config) { c.Sources = append(c.Sources, Source{}) }, []string{"collector.sources[2].name: required", "collector.sources[2].write_key: required"}},
		{"duplicate name and key", func(c *Config) { c.Sources = append(c.Sources, Source{Name: "web", WriteKey: testKey}) }, []string{`collector.sources[2].name: "web" is used`, "collector.sources[2].write_key: used by another"}},
		{"key with colon", func(c *Config) { c.Sources[0].WriteKey = "a:b" }, []string{"collector.sources[0].write_key: must not contain"}},
		{"bad rate limit", func(c *Config) { c.Sources[0].RateLimit = RateLimit{Burst: 5} }, []string{"collector.sources[0].rate_limit: 0 events/s, burst 5"}},
		{"negative rate limit", func(c *Config) { c.Sources[1].RateLimit = RateLimit{EventsPerSecond: -1} }, []string{"collector.sources[1].rate_limit"}},
		{"bad trusted proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "lb.internal"} }, []string{`collector.trusted_proxies[1]: "lb.internal"`}},
		{"no concurrency", func(c *Config) { c.MaxConcurrentRequests = 0; c.MaxConnections = -1 }, []string{"collector.max_concurrent_requests: 0", "collector.max_connections: -1"}},
		{"bad origins", func(c *Config) {
			c.Sources[0].AllowedOrigins = []string{"shop.example", "https://shop.example/path", "ftp://x"}
		}, []string{`"shop.example" is not an origin`, `"https://shop.example/path" is not an origin`, `"ftp://x" is not an origin`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	require.NoError(t, testConfig().Validate())
}
