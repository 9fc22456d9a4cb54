package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

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
	return c, nil
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

// Ready says whether the collector is serving and can reach Kafka.
func (c *Collector) Ready() bool { return c.serving.Load() && c.reachable.Load() }

// slogPrinter adapts fasthttp's logger to slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Warn("fasthttp: " + fmt.Sprintf(format, args...))
}
