package sink

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// Config configures the sink.
type Config struct {
	// Root is where the lake lives: a plain path, a file:// URL or an
	// s3://bucket/prefix?endpoint=…&region=…&path_style=…&part_size=… URL
	// (see ParseS3URL).
	Root string `yaml:"root"`
	// MaxRows rolls a partition's batch into files once it holds this many rows.
	MaxRows int `yaml:"max_rows"`
	// MaxBytes rolls a batch once the record values it holds reach this many
	// bytes, bounding memory whatever the row size.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxAge rolls a batch this long after its first row arrived, so that
	// data reaches the lake even when traffic is low.
	MaxAge time.Duration `yaml:"max_age"`
	// DedupEvents is how many recent event ids each partition remembers to
	// drop a copy of an event reaching the lake twice (0 disables).
	DedupEvents int `yaml:"dedup_events"`
	// MaxPartitions rolls a batch once its rows span this many hour
	// partitions (late events), bounding the open file writers.
	MaxPartitions int `yaml:"max_partitions"`
	// Compression of the Parquet columns: zstd, snappy, gzip, lz4 or none.
	Compression string `yaml:"compression"`
	// WriteRetries is how many times a failed lake write (or a registry
	// lookup) is retried, with backoff, before the task fails and the sink
	// stops; -1 (the default) retries until it succeeds or the sink is
	// stopped, holding consumption meanwhile (an object store outage).
	WriteRetries int `yaml:"write_retries"`
	// RetryMaxBackoff caps the wait between two retries (it doubles from
	// 100ms).
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
	// ManifestRetention is how long batch manifests of a running task are
	// kept; manifests older than the committed offset are also removed when
	// a task starts.
	ManifestRetention time.Duration `yaml:"manifest_retention"`
	// CompactAfter turns on compaction in the sink: every CompactInterval
	// the small files of hour partitions that ended longer than this ago
	// are merged, one file per hour and input partition (see Compact).
	// 0 (the default) leaves files as written.
	CompactAfter time.Duration `yaml:"compact_after"`
	// CompactInterval is how often compaction runs when it is on.
	CompactInterval time.Duration `yaml:"compact_interval"`
	// CompactLookback bounds what each run lists: the hours that ended
	// between CompactAfter+CompactLookback and CompactAfter ago (0: the
	// whole lake every run).
	CompactLookback time.Duration `yaml:"compact_lookback"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Root:              "./sillage-data/lake",
		MaxRows:           100_000,
		MaxBytes:          64 << 20,
		MaxAge:            30 * time.Second,
		DedupEvents:       100_000,
		MaxPartitions:     48,
		Compression:       "zstd",
		WriteRetries:      -1,
		RetryMaxBackoff:   10 * time.Second,
		ManifestRetention: time.Hour,
		CompactInterval:   10 * time.Minute,
		CompactLookback:   7 * 24 * time.Hour,
	}
}

// RegisterFlags binds the config to flags named sink.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Root, "sink.root", c.Root, "lake root: a path, file:// URL or s3://bucket/prefix?endpoint=…&region=…&path_style=true URL")
	fs.IntVar(&c.MaxRows, "sink.max-rows", c.MaxRows, "roll a partition's files after this many rows")
	fs.Int64Var(&c.MaxBytes, "sink.max-bytes", c.MaxBytes, "roll a partition's files after this many bytes of input")
	fs.IntVar(&c.DedupEvents, "sink.dedup-events", c.DedupEvents, "recent event ids remembered per partition to drop copies (0: off)")
	fs.DurationVar(&c.MaxAge, "sink.max-age", c.MaxAge, "roll a partition's files this long after their first row")
	fs.IntVar(&c.MaxPartitions, "sink.max-partitions", c.MaxPartitions, "roll once a batch spans this many hour partitions")
	fs.StringVar(&c.Compression, "sink.compression", c.Compression, "Parquet compression: zstd, snappy, gzip, lz4 or none")
	fs.IntVar(&c.WriteRetries, "sink.write-retries", c.WriteRetries, "retries of a failed lake write before the sink stops (-1: retry until the store is back, holding consumption)")
	fs.DurationVar(&c.RetryMaxBackoff, "sink.retry-max-backoff", c.RetryMaxBackoff, "longest wait between two retries of a lake write")
	fs.DurationVar(&c.ManifestRetention, "sink.manifest-retention", c.ManifestRetention, "how long batch manifests are kept while running")
	fs.DurationVar(&c.CompactAfter, "sink.compact-after", c.CompactAfter, "merge the small files of hour partitions that ended this long ago, one file per hour and input partition (0: off)")
	fs.DurationVar(&c.CompactInterval, "sink.compact-interval", c.CompactInterval, "how often compaction runs (with -sink.compact-after)")
	fs.DurationVar(&c.CompactLookback, "sink.compact-lookback", c.CompactLookback, "how far back (before -sink.compact-after) each compaction run looks for hours to merge (0: the whole lake)")
}

// Validate reports what is wrong with the config, naming the fields.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Root) == "" {
		errs = append(errs, errors.New("sink.root: must not be empty"))
	} else if err := checkRoot(c.Root); err != nil {
		errs = append(errs, fmt.Errorf("sink.root: %w", err))
	}
	if c.MaxRows < 1 {
		errs = append(errs, fmt.Errorf("sink.max_rows: %d, want at least 1", c.MaxRows))
	}
	if c.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("sink.max_bytes: %d, want at least 1", c.MaxBytes))
	}
	if c.DedupEvents < 0 || c.DedupEvents > 10_000_000 {
		errs = append(errs, fmt.Errorf("sink.dedup_events: %d, want between 0 and 10000000", c.DedupEvents))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("sink.max_age: %s, want a positive duration", c.MaxAge))
	}
	if c.MaxPartitions < 1 {
		errs = append(errs, fmt.Errorf("sink.max_partitions: %d, want at least 1", c.MaxPartitions))
	}
	if _, err := codec(c.Compression); err != nil {
		errs = append(errs, fmt.Errorf("sink.compression: %w", err))
	}
	if c.WriteRetries < -1 {
		errs = append(errs, fmt.Errorf("sink.write_retries: %d, want -1 (forever) or 0 or more", c.WriteRetries))
	}
	if c.RetryMaxBackoff < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("sink.retry_max_backoff: %s, want at least 100ms", c.RetryMaxBackoff))
	}
	if c.ManifestRetention <= 0 {
		errs = append(errs, fmt.Errorf("sink.manifest_retention: %s, want a positive duration", c.ManifestRetention))
	}
	if c.CompactAfter < 0 {
		errs = append(errs, fmt.Errorf("sink.compact_after: %s, want 0 (off) or a positive duration", c.CompactAfter))
	}
	if c.CompactAfter > 0 && c.CompactInterval <= 0 {
		errs = append(errs, fmt.Errorf("sink.compact_interval: %s, want a positive duration", c.CompactInterval))
	}
	if c.CompactLookback < 0 {
		errs = append(errs, fmt.Errorf("sink.compact_lookback: %s, want 0 (the whole lake) or a positive duration", c.CompactLookback))
	}
	return errors.Join(errs...)
}

func codec(name string) (compress.Codec, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return lakeZstd, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "lz4":
		return &parquet.Lz4Raw, nil
	case "none", "uncompressed":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("%q is not one of zstd, snappy, gzip, lz4, none", name)
}
