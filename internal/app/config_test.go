package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEmbeddedDefault(t *testing.T) {
	cfg, _, err := Load(nil)
	require.NoError(t, err)
	require.True(t, cfg.IsEmbedded())
	require.Equal(t, []string{"127.0.0.1:9092"}, cfg.Kafka.Brokers)
	require.Equal(t, "127.0.0.1:8080", cfg.Collector.Addr, "demo credentials on loopback only")
	require.Equal(t, "127.0.0.1:8081", cfg.Admin.Addr)
	require.Len(t, cfg.Collector.Sources, 1)
	require.Equal(t, DemoWriteKey, cfg.Collector.Sources[0].WriteKey)
	require.Equal(t, []string{DemoAdminToken}, cfg.Admin.Tokens)
	require.Equal(t, filepath.Join("sillage-data", "lake"), filepath.Clean(cfg.Sink.Root))
	require.NotEmpty(t, cfg.InstanceID)
}

func TestARoleWithoutBrokersRunsOnTheEmbeddedBroker(t *testing.T) {
	cfg, _, err := Load([]string{"-target", "collector"})
	require.NoError(t, err)
	require.True(t, cfg.IsEmbedded())
	require.Equal(t, []string{cfg.Embedded.BrokerAddr}, cfg.Kafka.Brokers)
	require.Equal(t, DemoWriteKey, cfg.Collector.Sources[0].WriteKey)
	require.Equal(t, filepath.Join(cfg.DataDir, "spool"), cfg.Collector.Spool.Dir)
	cfg, _, err = Load([]string{"-target", "collector", "-collector.spool.dir", SpoolOff})
	require.NoError(t, err)
	require.Empty(t, cfg.Collector.Spool.Dir, "the spool turned off")
}

func TestRealKafkaHasNoDefaultCredentials(t *testing.T) {
	_, _, err := Load([]string{"-kafka.brokers", "k1:9092", "-target", "collector"})
	require.ErrorContains(t, err, "collector", "a collector on real Kafka needs a source")
	cfg, _, err := Load([]string{"-kafka.brokers", "k1:9092", "-target", "enricher"})
	require.NoError(t, err)
	require.False(t, cfg.IsEmbedded())
	require.Empty(t, cfg.Admin.Tokens)
	require.Empty(t, cfg.Collector.Sources)
	// target=all against real Kafka is not the embedded default either.
	_, _, err = Load([]string{"-kafka.brokers", "k1:9092"})
	require.Error(t, err, "no demo source outside the embedded default")
}

func TestYAMLThenFlags(t *testing.T) {
	cfg, _, err := Load([]string{"-config.file", "testdata/good.yaml", "-kafka.partitions", "36", "-data.dir=/data"})
	require.NoError(t, err)
	require.Equal(t, "enricher,segmenter", cfg.Target)
	require.Equal(t, []string{"kafka-1:9092", "kafka-2:9092"}, cfg.Kafka.Brokers)
	require.Equal(t, int32(36), cfg.Kafka.Partitions, "flags win over the file")
	require.Equal(t, "/data", cfg.DataDir)
	require.Equal(t, "/data/lake", cfg.Sink.Root, "the lake follows the data dir")
	require.Equal(t, 45*time.Minute, cfg.Enricher.SessionTimeout)
	require.Equal(t, 30*time.Second, cfg.Segmenter.AllowedLateness)
	require.Equal(t, "enricher-0", cfg.InstanceID)
	require.False(t, cfg.IsEmbedded(), "brokers in the file mean real Kafka")
}

func TestBadConfigs(t *testing.T) {
	for file, wants := range map[string][]string{
		"testdata/unknown_field.bad.yaml": {"field brokerz not found"},
		"testdata/bad_values.bad.yaml": {
			`unknown role "ingester"`,
			`kafka.brokers: "kafka-1" has no port`,
			"kafka.partitions: 0",
			"admin.tokens[0]: too short",
			"enricher.session_timeout: 10s",
			"collector",
		},
	} {
		_, _, err := Load([]string{"-config.file", file})
		require.Error(t, err, file)
		for _, w := range wants {
			require.ErrorContains(t, err, w, file)
		}
	}
	_, _, err := Load([]string{"-config.file", "testdata/missing.yaml"})
	require.ErrorContains(t, err, "reading config file")
	_, _, err = Load([]string{"-no-such-flag"})
	require.ErrorContains(t, err, "no-such-flag")
	_, _, err = Load([]string{"-log.level", "verbose", "-log.format", "xml"})
	require.ErrorContains(t, err, `log.level: "verbose"`)
	require.ErrorContains(t, err, `log.format: "xml"`)
	_, _, err = Load([]string{"-collector.addr", "nonsense", "-admin.addr", "127.0.0.1:99999"})
	require.ErrorContains(t, err, `collector.addr: "nonsense": want host:port`)
	require.ErrorContains(t, err, `admin.addr: "127.0.0.1:99999": port "99999"`)
	_, _, err = Load([]string{"-collector.addr", "127.0.0.1:7000", "-admin.addr", "127.0.0.1:7000"})
	require.ErrorContains(t, err, `both "127.0.0.1:7000"`)
	_, _, err = Load([]string{"-log.level", "DEBUG", "-log.format", "json"})
	require.NoError(t, err)
}

func TestFindConfigFile(t *testing.T) {
	require.Equal(t, "a.yaml", findConfigFile([]string{"-x", "-config.file", "a.yaml"}))
	require.Equal(t, "b.yaml", findConfigFile([]string{"--config.file=b.yaml"}))
	require.Equal(t, "", findConfigFile([]string{"-target", "all"}))
}

func TestDeployExampleConfigLoads(t *testing.T) {
	cfg, _, err := Load([]string{"-config.file", "../../deploy/config.example.yaml"})
	require.NoError(t, err, "deploy/config.example.yaml must stay valid")
	require.False(t, cfg.IsEmbedded())
	require.Equal(t, "all", cfg.Target)
	require.Len(t, cfg.Kafka.Brokers, 3)
}

func TestVerifyChecksDefinitionsAndDatabases(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "segments.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("segments: [{name: x, event: {enter: 'event.nme == \"a\"'}}]\n"), 0o644))
	_, _, err := Load([]string{"-segmenter.definitions", bad})
	require.ErrorContains(t, err, "undefined field 'nme'")
	_, _, err = Load([]string{"-segmenter.definitions", "/no/such/segments.yaml"})
	require.ErrorContains(t, err, "segmenter.definitions")
	_, _, err = Load([]string{"-enricher.geoip-path", "/no/such/city.mmdb"})
	require.ErrorContains(t, err, "enricher.geoip_path")
}
