package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/collector"
	"github.com/sillage/sillage/enricher"
	"github.com/sillage/sillage/internal/admin"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/segmenter"
	"github.com/sillage/sillage/segmenter/workflow"
	"github.com/sillage/sillage/sink"
)

// Targets are the roles one process can take.
var Targets = []string{"all", "collector", "enricher", "segmenter", "sink"}

// Demo credentials of the embedded default. They are printed at start and
// exist only there.
const (
	DemoWriteKey   = "sillage-demo"
	DemoAdminToken = "sillage-admin-dev"
)

// Config is the whole configuration of a Sillage process.
type Config struct {
	Target            string           `yaml:"target"`
	DataDir           string           `yaml:"data_dir"`
	InstanceID        string           `yaml:"instance_id"`
	SchemaRegistryURL string           `yaml:"schema_registry_url"`
	Embedded          EmbeddedConfig   `yaml:"embedded"`
	Log               LogConfig        `yaml:"log"`
	Kafka             kafka.Config     `yaml:"kafka"`
	Admin             admin.Config     `yaml:"admin"`
	Collector         collector.Config `yaml:"collector"`
	Enricher          enricher.Config  `yaml:"enricher"`
	Segmenter         segmenter.Config `yaml:"segmenter"`
	Workflow          workflow.Config  `yaml:"workflow"`
	Sink              sink.Config      `yaml:"sink"`

	// brokersSet records whether Kafka brokers were configured explicitly.
	brokersSet bool
}

// EmbeddedConfig configures the embedded broker of the embedded default.
type EmbeddedConfig struct {
	BrokerAddr string `yaml:"broker_addr"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultConfig returns the defaults of every part.
func DefaultConfig() Config {
	return Config{
		Target:    "all",
		DataDir:   "./sillage-data",
		Embedded:  EmbeddedConfig{BrokerAddr: "127.0.0.1:9092"},
		Log:       LogConfig{Level: "info", Format: "text"},
		Kafka:     kafka.DefaultConfig(),
		Admin:     admin.DefaultConfig(),
		Collector: collector.DefaultConfig(),
		Enricher:  enricher.DefaultConfig(),
		Segmenter: segmenter.DefaultConfig(),
		Workflow:  workflow.DefaultConfig(),
		Sink:      defaultSink(),
	}
}

// defaultSink leaves the lake root empty: it defaults to <data_dir>/lake.
func defaultSink() sink.Config {
	c := sink.DefaultConfig()
	c.Root = ""
	return c
}

// IsEmbedded reports whether this process runs on the embedded broker (no
// Kafka brokers configured): the embedded default with -target all, or the
// chosen roles alone in one process with it (e.g. the collector's
// benchmark), with the demo credentials either way.
func (c *Config) IsEmbedded() bool { return !c.brokersSet }

// RegisterFlags binds every option to a flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sillage [flags]          run the roles of -target (default: everything, embedded broker)")
		fmt.Fprintln(fs.Output(), "       sillage replay [flags]   replay the REES46 clickstream into a collector (sillage replay -help)")
		fmt.Fprintln(fs.Output(), "       sillage lake query SQL   SQL over the Parquet lake with DuckDB (sillage lake -help)")
		fmt.Fprintln(fs.Output(), "       sillage lake ddl [flags] CREATE TABLE statements for Athena, Trino, Spark")
		fmt.Fprintln(fs.Output(), "       sillage version")
		fmt.Fprintln(fs.Output(), "\nflags (defaults, then -config.file, then flags):")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Target, "target", c.Target, "role(s) of this process: "+strings.Join(Targets, ", ")+" (comma-separated)")
	fs.StringVar(&c.DataDir, "data.dir", c.DataDir, "directory for the embedded broker's data, the local lake and spools")
	fs.StringVar(&c.InstanceID, "instance.id", c.InstanceID, "identity of this instance among instances of the same stage (default: host name); names transactional ids, so it must be unique and stable per instance")
	fs.StringVar(&c.SchemaRegistryURL, "schema-registry.url", c.SchemaRegistryURL, "Confluent-compatible schema registry; empty in the embedded default (served on the admin port)")
	fs.StringVar(&c.Embedded.BrokerAddr, "embedded.broker-addr", c.Embedded.BrokerAddr, "listen address of the embedded broker")
	fs.StringVar(&c.Log.Level, "log.level", c.Log.Level, "debug, info, warn, error")
	fs.StringVar(&c.Log.Format, "log.format", c.Log.Format, "text or json")
	c.Kafka.RegisterFlags(fs)
	c.Admin.RegisterFlags(fs)
	c.Collector.RegisterFlags(fs)
	c.Enricher.RegisterFlags(fs)
	c.Segmenter.RegisterFlags(fs)
	c.Workflow.RegisterFlags(fs)
	c.Sink.RegisterFlags(fs)
}

// targets returns the roles as a set.
func (c *Config) targets() map[string]bool {
	out := map[string]bool{}
	for _, t := range strings.Split(c.Target, ",") {
		t = strings.TrimSpace(t)
		if t == "all" {
			for _, x := range Targets[1:] {
				out[x] = true
			}
			continue
		}
		out[t] = true
	}
	return out
}

// Validate checks the parts this process runs.
func (c *Config) Validate() error {
	var errs []error
	for t := range c.targets() {
		if !slices.Contains(Targets, t) {
			errs = append(errs, fmt.Errorf("target: unknown role %q (want one of %s)", t, strings.Join(Targets, ", ")))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q, want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q, want text or json", c.Log.Format))
	}
	errs = append(errs, c.Kafka.Validate(), c.Admin.Validate())
	if c.Admin.Addr != "" {
		if err := collector.CheckListenAddr(c.Admin.Addr); err != nil {
			errs = append(errs, fmt.Errorf("admin.addr: %w", err))
		}
	}
	ts := c.targets()
	if ts["collector"] && c.Collector.Addr == c.Admin.Addr && c.Admin.Addr != "" {
		errs = append(errs, fmt.Errorf("collector.addr and admin.addr: both %q, want two addresses", c.Admin.Addr))
	}
	if ts["collector"] {
		errs = append(errs, c.Collector.Validate())
	}
	if ts["enricher"] {
		errs = append(errs, c.Enricher.Validate())
	}
	if ts["segmenter"] {
		errs = append(errs, c.Segmenter.Validate(), c.Workflow.Validate())
		// The definitions file is part of the configuration: load and
		// check it (CEL type-checking, workflow secrets) now.
		if defs, err := segmenter.LoadDefinitions(c.Segmenter.DefinitionsPath); err != nil {
			errs = append(errs, fmt.Errorf("segmenter.definitions: %w", err))
		} else if _, err := workflow.Parse(defs); err != nil {
			errs = append(errs, fmt.Errorf("segmenter.definitions: workflows: %w", err))
		}
	}
	if ts["enricher"] {
		for name, path := range map[string]string{"enricher.geoip_path": c.Enricher.GeoIPPath, "enricher.asn_path": c.Enricher.ASNPath} {
			if path == "" {
				continue
			}
			if _, err := os.Stat(path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	if ts["sink"] {
		errs = append(errs, c.Sink.Validate())
	}
	return errors.Join(errs...)
}

// applyEmbeddedDefaults fills what the embedded default provides.
func (c *Config) applyEmbeddedDefaults() {
	if !c.IsEmbedded() {
		return
	}
	c.Kafka.Brokers = []string{c.Embedded.BrokerAddr}
	// The demo credentials must not be reachable from the network: the
	// default ports listen on loopback only (give 0.0.0.0:8080 to expose).
	if c.Collector.Addr == collector.DefaultConfig().Addr {
		c.Collector.Addr = "127.0.0.1" + c.Collector.Addr
	}
	if c.Admin.Addr == admin.DefaultConfig().Addr {
		c.Admin.Addr = "127.0.0.1" + c.Admin.Addr
	}
	if len(c.Collector.Sources) == 0 {
		// The demo source sets the tag's server-set first-party cookie; on
		// plain-HTTP localhost, without the Secure attribute.
		c.Collector.Sources = []collector.Source{{Name: "demo", WriteKey: DemoWriteKey, AllowedOrigins: []string{"*"},
			Cookie: collector.Cookie{Name: "sillage_aid", Insecure: true}}}
	}
	if len(c.Admin.Tokens) == 0 {
		c.Admin.Tokens = []string{DemoAdminToken}
	}
}

// SpoolOff as collector.spool.dir runs the collector without a spool.
const SpoolOff = "off"

// applyDerivedDefaults fills defaults that depend on other options.
func (c *Config) applyDerivedDefaults() {
	if c.Sink.Root == "" {
		c.Sink.Root = filepath.Join(c.DataDir, "lake")
	}
	switch c.Collector.Spool.Dir {
	case "":
		c.Collector.Spool.Dir = filepath.Join(c.DataDir, "spool")
	case SpoolOff:
		c.Collector.Spool.Dir = ""
	}
	if c.InstanceID == "" {
		c.InstanceID, _ = os.Hostname()
		if c.InstanceID == "" {
			c.InstanceID = "0"
		}
	}
}

// Load builds the configuration from defaults, the YAML file named by
// -config.file, and flags (flags win). It returns the flag set's extra
// arguments.
func Load(args []string) (*Config, *flag.FlagSet, error) {
	cfg := DefaultConfig()
	file := findConfigFile(args)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("reading config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("config file %s: %w", file, err)
		}
		cfg.brokersSet = brokersInFile(b)
	}
	fs := flag.NewFlagSet("sillage", flag.ContinueOnError)
	var printCfg, verify bool
	fs.String("config.file", file, "YAML configuration file (defaults, then this file, then flags)")
	fs.BoolVar(&printCfg, "print-config", false, "print the effective configuration as YAML and exit")
	fs.BoolVar(&verify, "verify-config", false, "validate the configuration and exit")
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "kafka.brokers" {
			cfg.brokersSet = true
		}
	})
	cfg.applyEmbeddedDefaults()
	cfg.applyDerivedDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fs, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if printCfg {
		out, _ := yaml.Marshal(cfg)
		fmt.Print(string(out))
		return nil, fs, ErrExit
	}
	if verify {
		fmt.Println("configuration is valid")
		return nil, fs, ErrExit
	}
	return &cfg, fs, nil
}

// findConfigFile returns the value of -config.file among args.
func findConfigFile(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config.file" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// ErrExit means the configuration was printed or verified: exit 0.
var ErrExit = errors.New("exit")

func brokersInFile(b []byte) bool {
	var probe struct {
		Kafka struct {
			Brokers []string `yaml:"brokers"`
		} `yaml:"kafka"`
	}
	return yaml.Unmarshal(b, &probe) == nil && len(probe.Kafka.Brokers) > 0
}
