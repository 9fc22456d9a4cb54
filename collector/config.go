package collector

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures the collector.
type Config struct {
	// Addr is the public listen address.
	Addr string `yaml:"addr"`
	// MaxBodyBytes bounds a request body, after gzip decompression
	// (Segment's batch limit is 500 KB).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxEventBytes bounds one event's JSON (Segment's limit is 32 KB).
	MaxEventBytes int `yaml:"max_event_bytes"`
	// ProduceTimeout bounds the wait for Kafka's acknowledgement of a
	// request's events; past it the client gets 503.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// RetryAfter is the Retry-After a 503 carries.
	RetryAfter time.Duration `yaml:"retry_after"`
	// ReadTimeout, WriteTimeout and IdleTimeout protect against slow clients.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	IdleTimeout  time.Duration `yaml:"idle_timeout"`
	// ReadyProbeInterval is how often a failing producer is probed for recovery.
	ReadyProbeInterval time.Duration `yaml:"ready_probe_interval"`
	// MaxConcurrentRequests caps the event requests (API and pixel) being
	// handled at once; beyond it a request gets 503 with Retry-After.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// MaxConnections caps open connections (fasthttp's Server.Concurrency);
	// beyond it a new connection gets fasthttp's plain-text 503 and is
	// closed, counted in sillage_collector_connections_refused_total.
	MaxConnections int `yaml:"max_connections"`
	// TrustedProxies are the addresses (CIDR, or a single IP) of the
	// proxies whose X-Forwarded-For is believed. Empty: the client IP is
	// always the TCP peer's.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Sources are the write keys the collector accepts.
	Sources []Source `yaml:"sources"`
	// Spool is where events go while Kafka is unreachable or slow.
	Spool SpoolConfig `yaml:"spool"`
}

// SpoolConfig configures the local spool (see package spool). With a
// spool, a request whose events Kafka has not acknowledged within After is
// answered 2xx once its events are fsynced to the spool, and the spool is
// replayed into Kafka, in order and without duplicates, when Kafka is back.
// Without one (Dir empty) such a request gets 503 after ProduceTimeout.
type SpoolConfig struct {
	// Dir holds the spool's segment files; one collector process per dir.
	// Empty: no spool. The sillage binary defaults it to <data.dir>/spool.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the spool on disk; when full, requests get 503 with
	// Retry-After and /readyz fails.
	MaxBytes int64 `yaml:"max_bytes"`
	// After is how long a request waits for Kafka's acknowledgement before
	// its events are spooled instead.
	After time.Duration `yaml:"after"`
}

// Source is one origin of events: a website, an app, a server.
type Source struct {
	// Name identifies the source in events (RawEvent.Source) and logs.
	Name string `yaml:"name"`
	// WriteKey authenticates the source (HTTP Basic user or writeKey field).
	WriteKey string `yaml:"write_key"`
	// AllowedOrigins are the browser origins ("https://shop.example") whose
	// requests are accepted for this source; "*" allows any origin. Requests
	// without an Origin header (servers, SDKs) are not checked.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// RateLimit bounds the events the source may send; zero is no limit.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Cookie is the source's server-set first-party cookie (off by default).
	Cookie Cookie `yaml:"cookie"`
}

// RateLimit is a token bucket of events: EventsPerSecond tokens are added
// each second, up to Burst (default: EventsPerSecond rounded up). An event
// takes a token; a request takes as many as it has events, but at most
// Burst, so that a batch larger than the bucket is not refused forever.
type RateLimit struct {
	EventsPerSecond float64 `yaml:"events_per_second"`
	Burst           int     `yaml:"burst"`
}

// burst is the bucket size in force.
func (r RateLimit) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(1, int(math.Ceil(r.EventsPerSecond)))
}

// DefaultConfig returns the defaults. It has no source: the embedded
// default adds the demo one.
func DefaultConfig() Config {
	return Config{
		Addr:               ":8080",
		MaxBodyBytes:       500 * 1024,
		MaxEventBytes:      32 * 1024,
		ProduceTimeout:     5 * time.Second,
		RetryAfter:         5 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        60 * time.Second,
		ReadyProbeInterval: 2 * time.Second,

		MaxConcurrentRequests: 4096,
		MaxConnections:        64 * 1024,

		Spool: SpoolConfig{MaxBytes: 1 << 30, After: 2 * time.Second},
	}
}

// RegisterFlags binds the config to flags named collector.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "collector.addr", c.Addr, "public HTTP listen address")
	fs.IntVar(&c.MaxBodyBytes, "collector.max-body-bytes", c.MaxBodyBytes, "largest request body, after decompression")
	fs.IntVar(&c.MaxEventBytes, "collector.max-event-bytes", c.MaxEventBytes, "largest single event")
	fs.DurationVar(&c.ProduceTimeout, "collector.produce-timeout", c.ProduceTimeout, "longest wait for Kafka's acknowledgement before answering 503")
	fs.DurationVar(&c.RetryAfter, "collector.retry-after", c.RetryAfter, "Retry-After of a 503 answer")
	fs.DurationVar(&c.ReadTimeout, "collector.read-timeout", c.ReadTimeout, "longest time to read a request")
	fs.DurationVar(&c.WriteTimeout, "collector.write-timeout", c.WriteTimeout, "longest time to write a response")
	fs.DurationVar(&c.IdleTimeout, "collector.idle-timeout", c.IdleTimeout, "longest keep-alive idle time")
	fs.DurationVar(&c.ReadyProbeInterval, "collector.ready-probe-interval", c.ReadyProbeInterval, "how often a failing Kafka connection is probed")
	fs.IntVar(&c.MaxConcurrentRequests, "collector.max-concurrent-requests", c.MaxConcurrentRequests, "event requests handled at once; beyond, 503")
	fs.IntVar(&c.MaxConnections, "collector.max-connections", c.MaxConnections, "open connections; beyond, new ones are refused")
	fs.StringVar(&c.Spool.Dir, "collector.spool.dir", c.Spool.Dir, "directory of the spool that takes events while Kafka is unreachable or slow (sillage: default <data.dir>/spool; \"off\": no spool, 503 instead)")
	fs.Int64Var(&c.Spool.MaxBytes, "collector.spool.max-bytes", c.Spool.MaxBytes, "largest spool on disk; when full, 503")
	fs.DurationVar(&c.Spool.After, "collector.spool.after", c.Spool.After, "longest wait for Kafka's acknowledgement before spooling a request's events")
	fs.Func("collector.trusted-proxy", "CIDR or IP of a proxy whose X-Forwarded-For is believed (repeatable)", func(s string) error {
		if _, err := parsePrefix(s); err != nil {
			return fmt.Errorf("collector.trusted-proxy: %w", err)
		}
		c.TrustedProxies = append(c.TrustedProxies, s)
		return nil
	})
	fs.Func("collector.rate-limit", "NAME:EVENTS_PER_SECOND[:BURST], the rate limit of a source given before (repeatable)", func(s string) error {
		return c.setRateLimit(s)
	})
	fs.Func("collector.cookie", "NAME:COOKIE[:DOMAIN], the server-set first-party cookie of a source given before (repeatable)", func(s string) error {
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[1] == "" {
			return fmt.Errorf("collector.cookie: %q is not NAME:COOKIE[:DOMAIN]", s)
		}
		for i := range c.Sources {
			if c.Sources[i].Name == parts[0] {
				c.Sources[i].Cookie.Name = parts[1]
				if len(parts) == 3 {
					c.Sources[i].Cookie.Domain = parts[2]
				}
				return nil
			}
		}
		return fmt.Errorf("collector.cookie: no source named %q (give -collector.source first)", parts[0])
	})
	fs.Func("collector.source", "a source as NAME:WRITE_KEY[:ORIGIN,ORIGIN...] (repeatable; origins may be *)", func(s string) error {
		src, err := ParseSource(s)
		if err != nil {
			return err
		}
		c.Sources = append(c.Sources, src)
		return nil
	})
}

// ParseSource parses NAME:WRITE_KEY[:ORIGIN,ORIGIN...].
func ParseSource(s string) (Source, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Source{}, fmt.Errorf("collector.source: %q is not NAME:WRITE_KEY[:ORIGIN,ORIGIN...]", s)
	}
	src := Source{Name: parts[0], WriteKey: parts[1]}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			if o = strings.TrimSpace(o); o != "" {
				src.AllowedOrigins = append(src.AllowedOrigins, o)
			}
		}
	}
	return src, nil
}

// setRateLimit parses NAME:EVENTS_PER_SECOND[:BURST] and sets the named
// source's limit.
func (c *Config) setRateLimit(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return fmt.Errorf("collector.rate-limit: %q is not NAME:EVENTS_PER_SECOND[:BURST]", s)
	}
	var rl RateLimit
	var err error
	if rl.EventsPerSecond, err = strconv.ParseFloat(parts[1], 64); err != nil || rl.EventsPerSecond <= 0 || math.IsInf(rl.EventsPerSecond, 0) {
		return fmt.Errorf("collector.rate-limit: %q: events per second must be a positive number", s)
	}
	if len(parts) == 3 {
		if rl.Burst, err = strconv.Atoi(parts[2]); err != nil || rl.Burst < 1 {
			return fmt.Errorf("collector.rate-limit: %q: burst must be a positive integer", s)
		}
	}
	for i := range c.Sources {
		if c.Sources[i].Name == parts[0] {
			c.Sources[i].RateLimit = rl
			return nil
		}
	}
	return fmt.Errorf("collector.rate-limit: no source named %q (give -collector.source first)", parts[0])
}

// Validate reports every problem with the config, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if err := CheckListenAddr(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("collector.addr: %w", err))
	}
	if c.MaxEventBytes < 1024 {
		errs = append(errs, fmt.Errorf("collector.max_event_bytes: %d, want at least 1024", c.MaxEventBytes))
	}
	if c.MaxBodyBytes < c.MaxEventBytes {
		errs = append(errs, fmt.Errorf("collector.max_body_bytes: %d is below max_event_bytes %d", c.MaxBodyBytes, c.MaxEventBytes))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"produce_timeout", c.ProduceTimeout}, {"retry_after", c.RetryAfter}, {"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}, {"ready_probe_interval", c.ReadyProbeInterval},
	} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("collector.%s: %s, want a positive duration", d.name, d.d))
		}
	}
	if c.Spool.Dir != "" {
		if c.Spool.MaxBytes < 1<<20 {
			errs = append(errs, fmt.Errorf("collector.spool.max_bytes: %d, want at least 1 MiB", c.Spool.MaxBytes))
		}
		if c.Spool.After <= 0 {
			errs = append(errs, fmt.Errorf("collector.spool.after: %s, want a positive duration", c.Spool.After))
		}
	}
	if c.RetryAfter > 0 && c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("collector.retry_after: %s, want at least 1s (Retry-After counts seconds)", c.RetryAfter))
	}
	if c.MaxConcurrentRequests < 1 {
		errs = append(errs, fmt.Errorf("collector.max_concurrent_requests: %d, want at least 1", c.MaxConcurrentRequests))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("collector.max_connections: %d, want at least 1", c.MaxConnections))
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("collector.trusted_proxies[%d]: %w", i, err))
		}
	}
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("collector.sources: at least one source is required"))
	}
	names, keys := map[string]bool{}, map[string]bool{}
	for i, s := range c.Sources {
		field := "collector.sources[" + strconv.Itoa(i) + "]"
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", field))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q is used by another source", field, s.Name))
		}
		switch {
		case s.WriteKey == "":
			errs = append(errs, fmt.Errorf("%s.write_key: required", field))
		case keys[s.WriteKey]:
			errs = append(errs, fmt.Errorf("%s.write_key: used by another source", field))
		case strings.ContainsAny(s.WriteKey, ": \t\r\n"):
			errs = append(errs, fmt.Errorf("%s.write_key: must not contain ':' or white space", field))
		}
		names[s.Name], keys[s.WriteKey] = true, true
		if r := s.RateLimit; r.EventsPerSecond < 0 || math.IsNaN(r.EventsPerSecond) || math.IsInf(r.EventsPerSecond, 0) || r.Burst < 0 || (r.Burst > 0 && r.EventsPerSecond == 0) {
			errs = append(errs, fmt.Errorf("%s.rate_limit: %g events/s, burst %d: want a positive rate (and a burst of at least 1 if set), or both zero for no limit", field, r.EventsPerSecond, r.Burst))
		}
		for _, o := range s.AllowedOrigins {
			if err := checkOrigin(o); err != nil {
				errs = append(errs, fmt.Errorf("%s.allowed_origins: %w", field, err))
			}
		}
		if ck := s.Cookie; ck.Name != "" || ck.Domain != "" {
			if !cookieName.MatchString(ck.Name) {
				errs = append(errs, fmt.Errorf("%s.cookie.name: %q, want letters, digits and !#$%%&'*+-.^_`|~ only", field, ck.Name))
			}
			if ck.Domain != "" && !cookieDomain.MatchString(ck.Domain) {
				errs = append(errs, fmt.Errorf("%s.cookie.domain: %q is not a domain name", field, ck.Domain))
			}
			if ck.MaxAge < 0 {
				errs = append(errs, fmt.Errorf("%s.cookie.max_age: %s, want positive (or zero for the default)", field, ck.MaxAge))
			}
		}
	}
	return errors.Join(errs...)
}

// checkOrigin accepts "*" or a scheme://host[:port] origin as browsers send it.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("%q is not an origin like https://shop.example", o)
	}
	return nil
}

// CheckListenAddr checks a listen address ("host:port", "[v6]:port" or
// ":port", port 0 to 65535) without listening.
func CheckListenAddr(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port or :port (%v)", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}
