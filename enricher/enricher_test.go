package enricher

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/enricher/bots"
	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
)

func TestNewSaysOnceThatThereIsNoGeo(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	for i := range 3 {
		p.enriched(t, baseEvent("m-"+string(rune('a'+i)), "anon", fixedNow))
	}
	require.Equal(t, 1, strings.Count(h.logs.String(), "no GeoIP database configured"), h.logs.String())
}

func TestNewLogsTheOpenDatabases(t *testing.T) {
	h := newHarness(t, geoConfig(t))
	require.Contains(t, h.logs.String(), "GeoIP2-City")
}

func TestNewRefuses(t *testing.T) {
	asn := shareddata.Path(t, filepath.Join("geoip/maxmind-test/test-data", "GeoLite2-ASN-Test.mmdb"))
	broken := shareddata.Path(t, filepath.Join("geoip/maxmind-test/test-data", "GeoIP2-City-Test-Broken-Double-Format.mmdb"))
	serde := testSerde(t)
	tests := []struct {
		name   string
		cfg    func(*Config)
		deps   func(*Deps)
		errors []string
	}{
		{"invalid config", func(c *Config) { c.SessionTimeout = 0 }, nil, []string{"enricher.session_timeout"}},
		{"missing database", func(c *Config) { c.GeoIPPath = "/nope.mmdb" }, nil, []string{"enricher.geoip_path", "/nope.mmdb"}},
		{"wrong-type database", func(c *Config) { c.GeoIPPath = asn }, nil, []string{"GeoLite2-ASN", "cannot answer city lookups"}},
		{"broken database", func(c *Config) { c.GeoIPPath = broken }, nil, []string{"verifying city database"}},
		{"no serde", nil, func(d *Deps) { d.Serde = nil }, []string{"Deps.Serde is required"}},
		{"no topics", nil, func(d *Deps) { d.Topics = kafka.Topics{} }, []string{"Deps.Topics"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			deps := Deps{Serde: serde, Topics: testTopics, Registerer: prometheus.NewRegistry()}
			if tt.deps != nil {
				tt.deps(&deps)
			}
			e, err := New(cfg, deps)
			require.Nil(t, e)
			for _, want := range tt.errors {
				require.ErrorContains(t, err, want)
			}
		})
	}

	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		e, err := New(DefaultConfig(), Deps{Serde: serde, Topics: testTopics, Registerer: reg})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, e.Close()) })
		_, err = New(DefaultConfig(), Deps{Serde: serde, Topics: testTopics, Registerer: reg})
		require.ErrorContains(t, err, "registering enricher metrics")
	})
}

func TestStreamConfigAndTaskFactory(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	sc := h.e.StreamConfig("i-1")
	require.Equal(t, stream.Config{Name: "enricher", Topics: []string{testTopics.Raw}, Stores: []string{"sessions", "identities", "dedup"},
		Transactional: true, InstanceID: "i-1"}, sc)

	var f stream.TaskFactory = h.e.NewTask
	_, err := f(context.Background(), stream.TopicPartition{Topic: testTopics.Raw, Partition: 0},
		map[string]*stream.Store{StoreSessions: stream.NewTestStore(StoreSessions), StoreDedup: stream.NewTestStore(StoreDedup)})
	require.ErrorContains(t, err, `stores "sessions", "identities" and "dedup" are required`)
}

func TestTickRecordsBatchDuration(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	p := h.newPartition(t, nil)
	p.tick(t)
	require.Zero(t, h.metric(t, "sillage_enricher_process_duration_seconds"), "an idle tick observes nothing")
	p.enriched(t, baseEvent("m-1", "a", fixedNow))
	p.enriched(t, baseEvent("m-2", "a", fixedNow))
	p.tick(t)
	require.Equal(t, 1.0, h.metric(t, "sillage_enricher_process_duration_seconds"), "one observation per batch")
}

func TestConfigFromYAML(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, yaml.Unmarshal([]byte("geoip_path: /db/city.mmdb\nsession_timeout: 20m\nsession_lateness: 6h\nfuture_bound: 1h\nua_cache_size: 5\n"), &c))
	require.Equal(t, Config{GeoIPPath: "/db/city.mmdb", SessionTimeout: 20 * time.Minute, SessionLateness: 6 * time.Hour, SessionsKept: 16, FutureBound: time.Hour, UACacheSize: 5, DedupWindow: 24 * time.Hour, GeoIPReloadInterval: 5 * time.Second, Bots: bots.DefaultConfig()}, c)
}
