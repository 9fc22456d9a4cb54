package sink

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"file url", func(c *Config) { c.Root = "file:///var/lib/sillage/lake" }, ""},
		{"relative file url", func(c *Config) { c.Root = "file://./lake" }, ""},
		{"empty root", func(c *Config) { c.Root = " " }, "sink.root: must not be empty"},
		{"s3 url", func(c *Config) { c.Root = "s3://bucket/lake?endpoint=http://127.0.0.1:7070&path_style=true" }, ""},
		{"s3 without bucket", func(c *Config) { c.Root = "s3:///lake" }, "no bucket"},
		{"unknown scheme", func(c *Config) { c.Root = "ftp://host/x" }, "unsupported scheme"},
		{"file url with host", func(c *Config) { c.Root = "file://server/x" }, "not host"},
		{"max rows", func(c *Config) { c.MaxRows = 0 }, "sink.max_rows"},
		{"max bytes", func(c *Config) { c.MaxBytes = 0 }, "sink.max_bytes"},
		{"max age", func(c *Config) { c.MaxAge = 0 }, "sink.max_age"},
		{"max partitions", func(c *Config) { c.MaxPartitions = 0 }, "sink.max_partitions"},
		{"compression", func(c *Config) { c.Compression = "bzip2" }, "sink.compression"},
		{"retries", func(c *Config) { c.WriteRetries = -2 }, "sink.write_retries"},
		{"retry backoff", func(c *Config) { c.RetryMaxBackoff = time.Millisecond }, "sink.retry_max_backoff"},
		{"manifest retention", func(c *Config) { c.ManifestRetention = 0 }, "sink.manifest_retention"},
		{"compaction on", func(c *Config) { c.CompactAfter = 2 * time.Hour }, ""},
		{"compact after", func(c *Config) { c.CompactAfter = -time.Hour }, "sink.compact_after"},
		{"compact interval", func(c *Config) { c.CompactAfter = time.Hour; c.CompactInterval = 0 }, "sink.compact_interval"},
		{"compact lookback", func(c *Config) { c.CompactLookback = -time.Hour }, "sink.compact_lookback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mutate(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestParseRoot(t *testing.T) {
	cases := map[string]string{
		"./sillage-data/lake":     "./sillage-data/lake",
		"/data/lake":              "/data/lake",
		"file:///data/lake":       "/data/lake",
		"file://localhost/data/x": "/data/x",
		"file://./lake":           "./lake",
	}
	for in, want := range cases {
		got, err := parseRoot(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestRegisterFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-sink.root=file:///tmp/l", "-sink.max-rows=7", "-sink.max-age=5s", "-sink.compression=snappy"}))
	require.Equal(t, "file:///tmp/l", cfg.Root)
	require.Equal(t, 7, cfg.MaxRows)
	require.Equal(t, 5*time.Second, cfg.MaxAge)
	require.Equal(t, "snappy", cfg.Compression)
	require.NoError(t, cfg.Validate())
}

func TestNewAndStreamConfig(t *testing.T) {
	serde := newTestSerde(t)
	_, err := New(DefaultConfig(), Deps{Topics: testTopics})
	require.ErrorContains(t, err, "Serde")
	_, err = New(DefaultConfig(), Deps{Serde: serde})
	require.ErrorContains(t, err, "Topics")
	cfg := DefaultConfig()
	cfg.MaxRows = 0
	_, err = New(cfg, Deps{Serde: serde, Topics: testTopics})
	require.ErrorContains(t, err, "sink.max_rows")

	cfg = DefaultConfig()
	cfg.Root = t.TempDir() + "/lake"
	s, err := New(cfg, Deps{Serde: serde, Topics: kafka.DefaultConfig().Topics()})
	require.NoError(t, err)
	require.Equal(t, stream.Config{Name: "sink", Transactional: false,
		Topics: []string{"sillage.events.enriched", "sillage.segments.membership", "sillage.events.failed", "sillage.events.corrections"}}, s.StreamConfig())
	require.True(t, s.Ready())
	_, err = s.TaskFactory()(context.Background(), stream.TopicPartition{Topic: "sillage.events.raw"}, nil)
	require.ErrorContains(t, err, "no table for topic sillage.events.raw")
}
