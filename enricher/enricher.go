package enricher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sillage/sillage/enricher/bots"
	"github.com/sillage/sillage/enricher/dedup"
	"github.com/sillage/sillage/enricher/geo"
	"github.com/sillage/sillage/enricher/identity"
	"github.com/sillage/sillage/enricher/referrer"
	"github.com/sillage/sillage/enricher/session"
	"github.com/sillage/sillage/enricher/ua"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// Name is the stage name: consumer group, transactional id and changelog
// topics derive from it.
const Name = "enricher"

// The state stores each partition task needs (stream.Config.Stores).
const (
	StoreSessions   = "sessions"
	StoreIdentities = "identities"
	StoreDedup      = "dedup"
)

// Deps are what the enricher is given.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Serde decodes raw events and encodes enriched and failed ones; it must
	// have the enriched and failed contracts registered.
	Serde *schemas.Serde
	// Topics names the raw (input), enriched and failed topics.
	Topics kafka.Topics
	// Clock stamps EnrichedAt and FailedAt; nil means time.Now.
	Clock func() time.Time
}

// Enricher holds what every partition task shares: configuration, the
// GeoIP databases, the user-agent parser and its cache, metrics. Its
// NewTask is the stream.TaskFactory of the stage.
type Enricher struct {
	cfg    Config
	log    *slog.Logger
	serde  *schemas.Serde
	topics kafka.Topics
	clock  func() time.Time
	geo    *geo.Locator
	ua     *ua.Parser
	bots   *bots.Detector
	ref    *referrer.Classifier
	m      *metrics
}

// New checks the config, opens the GeoIP databases (refusing broken or
// wrong-type ones) and compiles the user-agent regexes.
func New(cfg Config, deps Deps) (*Enricher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Serde == nil {
		return nil, errors.New("enricher: Deps.Serde is required")
	}
	if deps.Topics.Raw == "" || deps.Topics.Enriched == "" || deps.Topics.Failed == "" || deps.Topics.Corrections == "" {
		return nil, errors.New("enricher: Deps.Topics needs the raw, enriched, failed and corrections topic names")
	}
	for _, k := range []schemas.Kind{schemas.KindEnriched, schemas.KindFailed, schemas.KindCorrection} {
		if deps.Serde.SchemaID(k) == 0 {
			return nil, fmt.Errorf("enricher: Deps.Serde does not write the %s contract", k)
		}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	e := &Enricher{cfg: cfg, log: deps.Logger.With("stage", Name), serde: deps.Serde, topics: deps.Topics, clock: deps.Clock}
	var err error
	if e.m, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if e.geo, err = geo.OpenWith(geo.Options{CityPath: cfg.GeoIPPath, CityLayout: geo.Layout(cfg.GeoIPLayout), ASNPath: cfg.ASNPath}); err != nil {
		return nil, fmt.Errorf("enricher.geoip_path/asn_path: %w", err)
	}
	if city, asn := e.geo.Describe(); city == "" && asn == "" {
		e.log.Info("no GeoIP database configured (enricher.geoip-path): events get no location")
	} else {
		e.log.Info("GeoIP databases open", "city", city, "asn", asn)
	}
	if e.ua, err = ua.New(cfg.UACacheSize); err != nil {
		return nil, errors.Join(fmt.Errorf("enricher: %w", err), e.geo.Close())
	}
	if e.bots, err = bots.New(cfg.Bots); err != nil {
		return nil, errors.Join(fmt.Errorf("enricher: %w", err), e.geo.Close())
	}
	if e.ref, err = referrer.New(cfg.Referrer); err != nil {
		return nil, errors.Join(fmt.Errorf("enricher.referrer: %w", err), e.geo.Close())
	}
	return e, nil
}

// StreamConfig is the runner configuration of the stage: the raw topic in,
// the two stores, transactional mode.
func (e *Enricher) StreamConfig(instanceID string) stream.Config {
	return stream.Config{
		Name:          Name,
		Topics:        []string{e.topics.Raw},
		Stores:        []string{StoreSessions, StoreIdentities, StoreDedup},
		Transactional: true,
		InstanceID:    instanceID,
	}
}

// NewTask is the stage's stream.TaskFactory.
func (e *Enricher) NewTask(_ context.Context, tp stream.TopicPartition, stores map[string]*stream.Store) (stream.Task, error) {
	sessions, ids, seen := stores[StoreSessions], stores[StoreIdentities], stores[StoreDedup]
	if sessions == nil || ids == nil || seen == nil {
		return nil, fmt.Errorf("enricher task for %s/%d: stores %q, %q and %q are required (stream.Config.Stores)", tp.Topic, tp.Partition, StoreSessions, StoreIdentities, StoreDedup)
	}
	return &task{
		e:        e,
		tp:       tp,
		ids:      identity.NewResolver(ids),
		sessions: session.NewTracker(sessions, e.cfg.SessionTimeout, session.Options{Lateness: e.cfg.SessionLateness, MaxSessions: e.cfg.SessionsKept}),
		dedup:    dedup.NewFilter(seen, e.cfg.DedupWindow),
	}, nil
}

// WatchGeo reloads the GeoIP databases when their files change (a new
// version is checked as at startup; a refused one leaves the old in use),
// until ctx ends. It returns at once when reloading is off.
func (e *Enricher) WatchGeo(ctx context.Context) error {
	if e.cfg.GeoIPReloadInterval <= 0 || (e.cfg.GeoIPPath == "" && e.cfg.ASNPath == "") {
		return nil
	}
	return e.geo.Watch(ctx, e.cfg.GeoIPReloadInterval, func(ev geo.Event) {
		if ev.Err != nil {
			e.m.geoReloads.WithLabelValues(ev.Role, "refused").Inc()
			e.log.Warn("new GeoIP database refused; the previous one stays in use", "role", ev.Role, "path", ev.Path, "err", ev.Err)
			return
		}
		e.m.geoReloads.WithLabelValues(ev.Role, "ok").Inc()
		e.m.geoBuilt.WithLabelValues(ev.Role).Set(float64(ev.Built.Unix()))
		e.log.Info("GeoIP database reloaded", "role", ev.Role, "path", ev.Path, "database", ev.Database)
	})
}

// Close releases the GeoIP databases. Call it after the runner stopped.
func (e *Enricher) Close() error { return e.geo.Close() }
