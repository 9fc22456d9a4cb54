package enricher

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/bots"
	"github.com/sillage/sillage/enricher/referrer"
)

func TestDefaultConfigIsValid(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"zero session timeout", func(c *Config) { c.SessionTimeout = 0 }, "enricher.session_timeout: 0s"},
		{"huge session timeout", func(c *Config) { c.SessionTimeout = 48 * time.Hour }, "enricher.session_timeout: 48h0m0s"},
		{"lateness below the timeout", func(c *Config) { c.SessionLateness = time.Minute }, "enricher.session_lateness: 1m0s"},
		{"no sessions kept", func(c *Config) { c.SessionsKept = 0 }, "enricher.sessions_kept: 0"},
		{"negative future bound", func(c *Config) { c.FutureBound = -time.Second }, "enricher.future_bound: -1s"},
		{"zero cache", func(c *Config) { c.UACacheSize = 0 }, "enricher.ua_cache_size: 0"},
		{"same file twice", func(c *Config) { c.GeoIPPath, c.ASNPath = "a.mmdb", "a.mmdb" }, "enricher.asn_path: same file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			require.ErrorContains(t, c.Validate(), tt.want)
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"-enricher.geoip-path=/db/city.mmdb", "-enricher.asn-path=/db/asn.mmdb",
		"-enricher.session-timeout=45m", "-enricher.session-lateness=2h", "-enricher.sessions-kept=4", "-enricher.future-bound=1h", "-enricher.ua-cache-size=99",
		"-enricher.geoip-layout=flat", "-enricher.geoip-reload-interval=1m",
		"-enricher.bots-cache-size=7", "-enricher.bot-sessions", "-enricher.internal-domains=a.example, b.example",
	}))
	wantBots := bots.DefaultConfig()
	wantBots.CacheSize = 7
	require.Equal(t, Config{GeoIPPath: "/db/city.mmdb", GeoIPLayout: "flat", ASNPath: "/db/asn.mmdb", GeoIPReloadInterval: time.Minute,
		SessionTimeout: 45 * time.Minute, SessionLateness: 2 * time.Hour, SessionsKept: 4, FutureBound: time.Hour, UACacheSize: 99, DedupWindow: 24 * time.Hour, Bots: wantBots, BotSessions: true,
		Referrer: referrer.Config{InternalDomains: []string{"a.example", "b.example"}}}, c)
}

func TestGeoIPLayoutAndReloadOptions(t *testing.T) {
	cfg := DefaultConfig()
	require.Equal(t, 5*time.Second, cfg.GeoIPReloadInterval)
	for _, l := range []string{"", "geoip2", "flat"} {
		cfg.GeoIPLayout = l
		require.NoError(t, cfg.Validate(), l)
	}
	cfg.GeoIPLayout = "dbip"
	cfg.GeoIPReloadInterval = -time.Second
	err := cfg.Validate()
	require.ErrorContains(t, err, "enricher.geoip_layout")
	require.ErrorContains(t, err, "enricher.geoip_reload_interval")
}
