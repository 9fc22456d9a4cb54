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
	want.Sources = []Source{
		{Name: "web", WriteKey: "wk_live_123", AllowedOrigins: []string{"https://shop.example", "https://www.shop.example"}},
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
