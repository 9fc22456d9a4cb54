package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/sillage/sillage/collector/spool"
	"github.com/sillage/sillage/schemas"
)

// Deps are what the collector is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Producer must be idempotent with acks=all (kafka.Config.ProducerOpts).
	// The collector never closes it: its owner does, after Run returned.
	Producer *kgo.Client
	// Serde encodes raw events (schemas.KindRaw must be registered).
	Serde *schemas.Serde
	// Topic is the raw events topic (kafka.Config.Topics().Raw).
	Topic string
	// Clock gives the receive time; nil means time.Now.
	Clock func() time.Time
	// KafkaOpts are the client options (seed brokers, TLS, SASL) the spool
	// replay uses to read the raw topic; required with a spool.
	KafkaOpts []kgo.Opt
}

// Collector is the public HTTP endpoint of Sillage.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	prod    *kgo.Client
	serde   *schemas.Serde
	topic   string
	clock   func() time.Time
	sources map[string]*Source // by write key
	server  *fasthttp.Server
	static  *staticFiles
	proxies proxies
	// limiters are the sources' token buckets, by source name (absent: no limit).
	limiters map[string]*rate.Limiter
	inflight atomic.Int64 // event requests being handled

	serving   atomic.Bool // the listener is open
	reachable atomic.Bool // Kafka answered at least once and no produce is failing

	// The spool (nil without one), see spooling.go.
	spool      *spool.Spool
	readerOpts []kgo.Opt
	mode       sync.RWMutex // held for reading around a mode check and what it decides
	spooling   atomic.Bool  // requests go to the spool
	// replayTried are the segments whose replay began (replay goroutine only).
	replayTried map[string]bool
}

// New checks the config and the deps and builds a collector. It does not
// touch the network: Run does.
func New(cfg Config, deps Deps) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if deps.Producer == nil {
		errs = append(errs, errors.New("collector: Deps.Producer is required"))
	}
	if deps.Serde == nil {
		errs = append(errs, errors.New("collector: Deps.Serde is required"))
	}
	if deps.Topic == "" {
		errs = append(errs, errors.New("collector: Deps.Topic is required"))
	}
	if cfg.Spool.Dir != "" && len(deps.KafkaOpts) == 0 {
		errs = append(errs, errors.New("collector: Deps.KafkaOpts is required with a spool"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("collector: registering metrics: %w", err)
	}
	st, err := loadStatic()
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	c := &Collector{
		cfg: cfg, log: deps.Logger.With("stage", "collector"), m: m,
		prod: deps.Producer, serde: deps.Serde, topic: deps.Topic, clock: deps.Clock,
		sources: make(map[string]*Source, len(cfg.Sources)),
		static:  st,
	}
	if c.proxies, err = newProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("collector: %w", err) // Validate checked them
	}
	c.limiters = map[string]*rate.Limiter{}
	for i := range cfg.Sources {
		c.sources[cfg.Sources[i].WriteKey] = &cfg.Sources[i]
		if l := newLimiter(cfg.Sources[i].RateLimit); l != nil {
			c.limiters[cfg.Sources[i].Name] = l
		}
	}
	c.server = &fasthttp.Server{
		Handler:               c.Handler(),
		ErrorHandler:          c.errorHandler,
		Name:                  "sillage",
		NoDefaultServerHeader: true,
		// Bodies up to twice the limit are read whole, so that the client
		// (still writing when a server refuses early) reads a clean 413
		// JSON answer; the handler enforces MaxBodyBytes itself. Larger
		// bodies get the 413 and the connection is closed.
		MaxRequestBodySize: 2*cfg.MaxBodyBytes + 64*1024,
		ReadBufferSize:     16 * 1024, // bounds the request line and headers
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		Concurrency:        cfg.MaxConnections,
		CloseOnShutdown:    true,
		Logger:             slogPrinter{c.log},
	}
	if err := deps.Registerer.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sillage_collector_connections_refused_total",
		Help: "Connections refused because max_connections were open (answered 503 in plain text and closed).",
	}, func() float64 { return float64(c.server.GetRejectedConnectionsCount()) })); err != nil {
		return nil, fmt.Errorf("collector: registering metrics: %w", err)
	}
	if cfg.Spool.Dir != "" {
		if err := c.openSpool(deps); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// openSpool opens the spool; events left in it by a previous run are
// replayed once Serve runs and Kafka answers.
func (c *Collector) openSpool(deps Deps) error {
	sp, err := spool.Open(c.cfg.Spool.Dir, spool.Options{MaxBytes: c.cfg.Spool.MaxBytes, Logger: c.log})
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	c.spool = sp
	c.replayTried = map[string]bool{}
	c.readerOpts = append([]kgo.Opt{}, deps.KafkaOpts...)
	if st := sp.Stats(); st.Records > 0 {
		c.spooling.Store(true)
		c.log.Info("spool holds events from a previous run; they are replayed once Kafka answers",
			"events", st.Records, "bytes", st.Bytes, "oldest", st.Oldest)
	}
	gauge := func(name, help string, f func(spool.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(sp.Stats()) })
	}
	for _, g := range []prometheus.Collector{
		gauge("sillage_collector_spool_events", "Events in the spool, waiting for Kafka.", func(s spool.Stats) float64 { return float64(s.Records) }),
		gauge("sillage_collector_spool_bytes", "Bytes of the spool on disk.", func(s spool.Stats) float64 { return float64(s.Bytes) }),
		gauge("sillage_collector_spool_oldest_age_seconds", "Age of the oldest spooled event (0 when the spool is empty).", func(s spool.Stats) float64 {
			if s.Oldest.IsZero() {
				return 0
			}
			return time.Since(s.Oldest).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sillage_collector_spool_max_bytes", Help: "The spool's bound (collector.spool.max_bytes)."},
			func() float64 { return float64(c.cfg.Spool.MaxBytes) }),
	} {
		if err := deps.Registerer.Register(g); err != nil {
			_ = sp.Close()
			return fmt.Errorf("collector: registering metrics: %w", err)
		}
	}
	return nil
}

// Close releases the spool (its events stay on disk for the next start).
// Call it after Serve returned.
func (c *Collector) Close() error {
	if c.spool == nil {
		return nil
	}
	return c.spool.Close()
}

// Run listens on Config.Addr and serves until ctx is cancelled.
func (c *Collector) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("collector: listening on %s: %w", c.cfg.Addr, err)
	}
	return c.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then stops accepting, lets the
// requests in flight finish (each bounded by ProduceTimeout) and returns.
// It closes ln.
func (c *Collector) Serve(ctx context.Context, ln net.Listener) error {
	c.log.Info("collector listening", "addr", ln.Addr().String(), "sources", len(c.sources))
	errc := make(chan error, 1)
	go func() { errc <- c.server.Serve(ln) }()
	c.serving.Store(true)
	defer c.serving.Store(false)

	probe := time.NewTicker(c.cfg.ReadyProbeInterval)
	defer probe.Stop()
	if c.spool != nil {
		rctx, stopReplay := context.WithCancel(ctx)
		replayDone := make(chan struct{})
		go func() { defer close(replayDone); c.replayLoop(rctx) }()
		defer func() { stopReplay(); <-replayDone }()
	}
	c.probe(ctx)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("collector: serving: %w", err)
		case <-probe.C:
			if !c.reachable.Load() {
				c.probe(ctx)
			}
		case <-ctx.Done():
			c.serving.Store(false)
			sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ProduceTimeout+c.cfg.WriteTimeout)
			err := c.server.ShutdownWithContext(sctx)
			cancel()
			<-errc
			if err != nil {
				return fmt.Errorf("collector: shutting down: %w", err)
			}
			c.log.Info("collector stopped")
			return nil
		}
	}
}

// probe checks that a Kafka broker answers; readiness needs one answer
// since start or since the last produce failure.
func (c *Collector) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyProbeInterval)
	defer cancel()
	if err := c.prod.Ping(pctx); err != nil {
		c.log.Debug("kafka not reachable yet", "err", err)
		return
	}
	if !c.reachable.Swap(true) {
		c.log.Info("kafka reachable, collector ready")
	}
}

// Ready says whether the collector is serving and can make events
// durable. Without a spool that needs Kafka; with one, room in the spool
// for one more request of the largest size (Kafka is not needed, and the
// spool only fills while Kafka fails).
func (c *Collector) Ready() bool {
	if c.spool != nil {
		return c.serving.Load() && c.spool.Room(int64(c.cfg.MaxBodyBytes))
	}
	return c.serving.Load() && c.reachable.Load()
}

// slogPrinter adapts fasthttp's logger to slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Warn("fasthttp: " + redactRequest(fmt.Sprintf(format, args...)))
}
