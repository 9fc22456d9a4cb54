package enricher

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/sillage/sillage/enricher/bots"
	"github.com/sillage/sillage/enricher/referrer"
)

// Config configures the enricher.
type Config struct {
	// GeoIPPath is a MaxMind GeoIP2/GeoLite2 City or Country database
	// (.mmdb). Empty: events get no location (said once at startup).
	GeoIPPath string `yaml:"geoip_path"`
	// GeoIPLayout is the city database's record layout: "" (detected from
	// its metadata), "geoip2" (MaxMind) or "flat" (DB-IP's lite databases).
	GeoIPLayout string `yaml:"geoip_layout"`
	// ASNPath is an optional GeoLite2/GeoIP2 ASN database.
	ASNPath string `yaml:"asn_path"`
	// GeoIPReloadInterval is how often the database files are checked for
	// a new version, loaded without restart; zero turns reloading off.
	GeoIPReloadInterval time.Duration `yaml:"geoip_reload_interval"`
	// SessionTimeout is the inactivity, in event time, after which a
	// visitor's next event starts a new session.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// SessionLateness is how far behind a visitor's latest event time an
	// event may arrive and still land in the session it belongs to
	// (merging two sessions when it closes their gap); an older one gets a
	// session of its own, flagged late (see enricher/session).
	SessionLateness time.Duration `yaml:"session_lateness"`
	// SessionsKept is how many recent sessions per visitor are kept for
	// late events to land in.
	SessionsKept int `yaml:"sessions_kept"`
	// FutureBound is how far past its receipt an event's corrected time may
	// lie; beyond it the time is clamped to the receipt time and the event
	// flagged TimeClamped. After clock-skew correction only bad clocks or
	// forged timestamps get there, so the default (10 minutes) is tight:
	// well under the session timeout, so one bad clock cannot stretch a
	// session, and above the network and queueing delays between sentAt and
	// receipt.
	FutureBound time.Duration `yaml:"future_bound"`
	// UACacheSize is how many distinct user agents keep their parse.
	UACacheSize int `yaml:"ua_cache_size"`
	// DedupWindow is how long (by receipt time) an event's (source,
	// messageId) is remembered to drop retried copies.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// Bots configures bot detection: flagged events are kept (Bot,
	// BotReason) and counted, never dropped.
	Bots bots.Config `yaml:"bots"`
	// BotSessions puts events flagged as bots in sessions too; by default
	// they get none (and the segmenter ignores them).
	BotSessions bool `yaml:"bot_sessions"`
	// Referrer configures referrer classification: InternalDomains are the
	// site's own domains, whose referrers are "internal" (the page's own
	// host always is).
	Referrer referrer.Config `yaml:"referrer"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SessionTimeout:      30 * time.Minute,
		SessionLateness:     24 * time.Hour,
		SessionsKept:        16,
		GeoIPReloadInterval: 5 * time.Second,
		FutureBound:         10 * time.Minute,
		UACacheSize:         20_000,
		DedupWindow:         24 * time.Hour,
		Bots:                bots.DefaultConfig(),
	}
}

// RegisterFlags binds the config to flags named enricher.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GeoIPPath, "enricher.geoip-path", c.GeoIPPath, "MaxMind City or Country database (.mmdb); empty: no geolocation")
	fs.StringVar(&c.ASNPath, "enricher.asn-path", c.ASNPath, "optional MaxMind ASN database (.mmdb)")
	fs.StringVar(&c.GeoIPLayout, "enricher.geoip-layout", c.GeoIPLayout, `layout of the city database: "" detects it, "geoip2" (MaxMind) or "flat" (DB-IP lite)`)
	fs.DurationVar(&c.GeoIPReloadInterval, "enricher.geoip-reload-interval", c.GeoIPReloadInterval, "how often GeoIP files are checked for a new version (0: never)")
	fs.DurationVar(&c.SessionTimeout, "enricher.session-timeout", c.SessionTimeout, "inactivity (event time) that ends a session")
	fs.DurationVar(&c.SessionLateness, "enricher.session-lateness", c.SessionLateness, "how late (behind the visitor's latest event) an event may be and still land in its session")
	fs.IntVar(&c.SessionsKept, "enricher.sessions-kept", c.SessionsKept, "recent sessions kept per visitor for late events")
	fs.DurationVar(&c.FutureBound, "enricher.future-bound", c.FutureBound, "events whose corrected time is further than this past their receipt are clamped to it")
	fs.IntVar(&c.UACacheSize, "enricher.ua-cache-size", c.UACacheSize, "distinct user agents whose parse is cached")
	fs.DurationVar(&c.DedupWindow, "enricher.dedup-window", c.DedupWindow, "how long (source, messageId) pairs are remembered to drop retried copies")
	c.Bots.RegisterFlags(fs, "enricher.bots-")
	fs.BoolVar(&c.BotSessions, "enricher.bot-sessions", c.BotSessions, "put events flagged as bots in sessions too (default: no session)")
	fs.Func("enricher.internal-domains", "comma-separated domains of the site whose referrers count as internal (with their subdomains)", func(v string) error {
		c.Referrer.InternalDomains = nil
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				c.Referrer.InternalDomains = append(c.Referrer.InternalDomains, d)
			}
		}
		return nil
	})
}

// Validate reports every problem with the config, each naming its field.
// Database files are checked by New, which opens them.
func (c Config) Validate() error {
	var errs []error
	if c.SessionTimeout < time.Minute || c.SessionTimeout > 24*time.Hour {
		errs = append(errs, fmt.Errorf("enricher.session_timeout: %s, want between 1m and 24h", c.SessionTimeout))
	}
	if c.SessionLateness < c.SessionTimeout || c.SessionLateness > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("enricher.session_lateness: %s, want between the session timeout (%s) and 720h", c.SessionLateness, c.SessionTimeout))
	}
	if c.SessionsKept < 1 || c.SessionsKept > 1000 {
		errs = append(errs, fmt.Errorf("enricher.sessions_kept: %d, want between 1 and 1000", c.SessionsKept))
	}
	if c.FutureBound < 0 {
		errs = append(errs, fmt.Errorf("enricher.future_bound: %s, want zero or more", c.FutureBound))
	}
	if c.UACacheSize < 1 || c.UACacheSize > 10_000_000 {
		errs = append(errs, fmt.Errorf("enricher.ua_cache_size: %d, want between 1 and 10000000", c.UACacheSize))
	}
	if c.DedupWindow < time.Minute || c.DedupWindow > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("enricher.dedup_window: %s, want between 1m and 720h", c.DedupWindow))
	}
	switch c.GeoIPLayout {
	case "", "geoip2", "flat":
	default:
		errs = append(errs, fmt.Errorf(`enricher.geoip_layout: %q, want "", "geoip2" or "flat"`, c.GeoIPLayout))
	}
	if c.GeoIPReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("enricher.geoip_reload_interval: %s, want zero (off) or more", c.GeoIPReloadInterval))
	}
	if err := c.Bots.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("enricher.%w", err))
	}
	if err := c.Referrer.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("enricher.referrer.%w", err))
	}
	if c.ASNPath != "" && c.ASNPath == c.GeoIPPath {
		errs = append(errs, errors.New("enricher.asn_path: same file as geoip_path; an ASN database is a separate file"))
	}
	return errors.Join(errs...)
}
