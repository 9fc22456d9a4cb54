package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/sillage/sillage/collector"
	"github.com/sillage/sillage/enricher"
	"github.com/sillage/sillage/internal/admin"
	"github.com/sillage/sillage/internal/broker"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
	"github.com/sillage/sillage/segmenter/workflow"
	"github.com/sillage/sillage/sink"
)

// ShutdownBudget bounds an orderly shutdown.
const ShutdownBudget = 30 * time.Second

// NewLogger builds the process logger.
func NewLogger(c LogConfig) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Run runs the configured roles until ctx is cancelled.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	targets := cfg.targets()
	topics := cfg.Kafka.Topics()

	var services []service
	if cfg.IsEmbedded() {
		dir := filepath.Join(cfg.DataDir, "kafka")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
		b, err := broker.Start(cfg.Embedded.BrokerAddr, dir, log)
		if err != nil {
			return err
		}
		defer b.Close()
		cfg.Kafka.Brokers = b.Addrs()
		cfg.Kafka.SoleWriter = true
		// A new transactional id per start: the embedded broker (kfake)
		// aborts a transaction left open by a crash without writing an
		// abort marker, and read_committed consumers then treat later
		// transactions of the same producer id as aborted too. A fresh
		// id gets a fresh producer id. Real Kafka writes the markers when
		// the same id comes back, so there ids stay stable (fencing).
		cfg.InstanceID += "-" + startNonce()
	}

	// Topics and schemas.
	kindTopics := schemaTopics(topics)
	var registry schemas.Registry
	embeddedReg := schemas.NewEmbeddedRegistry(kindTopics)
	if cfg.SchemaRegistryURL != "" {
		rr, err := schemas.NewRemoteRegistry(cfg.SchemaRegistryURL)
		if err != nil {
			return err
		}
		registry = rr
	} else {
		registry = embeddedReg
	}
	setupCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	adminCl, err := kgo.NewClient(cfg.Kafka.Opts("admin")...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer adminCl.Close()
	ensureTopics := func(ctx context.Context) error {
		if err := kafka.EnsureTopics(ctx, adminCl, cfg.Kafka.ReplicationFactor, cfg.Kafka.CreateTopics, cfg.Kafka.Specs()...); err != nil {
			return fmt.Errorf("kafka topics (brokers %v): %w", cfg.Kafka.Brokers, err)
		}
		return nil
	}
	if err := ensureTopics(setupCtx); err != nil {
		// A collector alone with a spool starts without Kafka: it spools
		// until Kafka answers; the topics are checked again meanwhile.
		if len(targets) != 1 || !targets["collector"] || cfg.Collector.Spool.Dir == "" {
			return err
		}
		log.Warn("Kafka is not reachable at start; the collector spools events until it is", "err", err)
		services = append(services, service{"topics", func(ctx context.Context) error {
			return retryTopics(ctx, log, ensureTopics)
		}})
	}
	serde, err := schemas.NewSerde(setupCtx, registry, kindTopics)
	if err != nil {
		return err
	}

	adm := admin.New(cfg.Admin, log.With("component", "admin"), reg)
	if cfg.SchemaRegistryURL == "" {
		adm.HandleSchemaRegistry(embeddedReg.Handler())
	}
	adm.Handle("GET /v1/segments/transitions", adm.Protect(recentTransitions(cfg.Kafka, serde)))
	if err := adm.Listen(); err != nil {
		return err
	}
	services = append(services, service{"admin", adm.Run})

	runStage := func(name string, sc stream.Config, f stream.TaskFactory) error {
		r, err := stream.New(cfg.Kafka, sc, f, stream.Deps{Logger: log, Registerer: reg})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		adm.AddCheck(admin.Check{Name: name, Ready: r.Ready})
		services = append(services, service{name, r.Run})
		return nil
	}

	collectorAddr := cfg.Collector.Addr
	// Downstream first.
	if targets["sink"] {
		s, err := sink.New(cfg.Sink, sink.Deps{Logger: log, Registerer: reg, Serde: serde, Topics: topics})
		if err != nil {
			return err
		}
		adm.AddCheck(admin.Check{Name: "lake", Ready: s.Ready})
		if cfg.Sink.CompactAfter > 0 {
			services = append(services, service{"lake-compaction", s.RunCompaction})
		}
		if err := runStage("sink", s.StreamConfig(), s.TaskFactory()); err != nil {
			return err
		}
	}
	if targets["segmenter"] {
		defs, err := segmenter.LoadDefinitions(cfg.Segmenter.DefinitionsPath)
		if err != nil {
			return fmt.Errorf("segmenter.definitions: %w", err)
		}
		seg, err := segmenter.New(cfg.Segmenter, segmenter.Deps{Logger: log, Registerer: reg, Serde: serde, Topics: topics, Definitions: defs,
			Partitions: topicPartitions(setupCtx, adminCl, topics.Enriched)})
		if err != nil {
			return err
		}
		adm.Handle("GET /v1/profiles/{id}", adm.Protect(seg.ProfileHandler(false)))
		adm.Handle("GET /v1/profiles/{id}/explain", adm.Protect(seg.ProfileHandler(true)))
		wf, err := workflow.New(cfg.Kafka, cfg.Workflow, workflow.Deps{Logger: log, Registerer: reg, Serde: serde, Topics: topics, Definitions: defs})
		if err != nil {
			return err
		}
		adm.AddCheck(admin.Check{Name: "workflow", Ready: wf.Ready})
		services = append(services, service{"workflow", wf.Run})
		sc := seg.StreamConfig()
		sc.InstanceID = cfg.InstanceID
		if err := runStage("segmenter", sc, seg.NewTask); err != nil {
			return err
		}
	}
	if targets["enricher"] {
		e, err := enricher.New(cfg.Enricher, enricher.Deps{Logger: log, Registerer: reg, Serde: serde, Topics: topics})
		if err != nil {
			return err
		}
		defer e.Close()
		services = append(services, service{"geoip-reload", e.WatchGeo})
		if err := runStage("enricher", e.StreamConfig(cfg.InstanceID), e.NewTask); err != nil {
			return err
		}
	}
	if targets["collector"] {
		// The collector's Kafka client metrics (franz-go's kprom): produce
		// latency, buffered records, broker connections.
		kp := kprom.NewMetrics("sillage_collector_kafka", kprom.Registerer(reg))
		prod, err := kgo.NewClient(append(cfg.Kafka.ProducerOpts("collector"), kgo.WithHooks(kp), kgo.ProducerLinger(0))...)
		if err != nil {
			return fmt.Errorf("collector producer: %w", err)
		}
		defer prod.Close()
		c, err := collector.New(cfg.Collector, collector.Deps{Logger: log, Registerer: reg, Producer: prod, Serde: serde,
			Topic: topics.Raw, KafkaOpts: cfg.Kafka.Opts("collector-spool-replay")})
		if err != nil {
			return err
		}
		defer c.Close()
		adm.AddCheck(admin.Check{Name: "collector", Ready: c.Ready})
		// Bound here, so that a taken port fails the start before anything
		// says Sillage is running.
		ln, err := net.Listen("tcp", cfg.Collector.Addr)
		if err != nil {
			return fmt.Errorf("collector: listening on %s: %w", cfg.Collector.Addr, err)
		}
		collectorAddr = ln.Addr().String()
		services = append(services, service{"collector", func(ctx context.Context) error { return c.Serve(ctx, ln) }})
	}

	if cfg.IsEmbedded() {
		printBanner(cfg, collectorAddr, adm.Addr())
	}
	log.Info("sillage running", "target", cfg.Target, "brokers", cfg.Kafka.Brokers)
	return runServices(ctx, log, ShutdownBudget, services)
}

// topicPartitions is a topic's partition count (0 when it cannot be read:
// the profile view then searches every partition the instance owns).
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) int32 {
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return 0
	}
	return int32(len(d.Partitions))
}

func startNonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func printBanner(cfg *Config, collectorAddr, adminAddr string) {
	host := func(addr string) string {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return addr
		}
		if h == "" || h == "::" || h == "0.0.0.0" || h == "127.0.0.1" {
			h = "localhost"
		}
		return net.JoinHostPort(h, p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nSillage is running on its embedded broker (roles: %s).\n\n", cfg.Target)
	if collectorAddr != "" {
		c := host(collectorAddr)
		fmt.Fprintf(&b, "  collector      http://%s         (Segment API: POST /v1/batch, /v1/track, ...)\n", c)
		fmt.Fprintf(&b, "  tag            http://%s/tag.js\n", c)
		fmt.Fprintf(&b, "  demo shop      http://%s/demo\n", c)
	}
	fmt.Fprintf(&b, "  admin          http://%s         (metrics, schema registry, health)\n", host(adminAddr))
	fmt.Fprintf(&b, "  Kafka broker   %[1]s         (e.g. kcat -b %[1]s -C -t %[2]s -f '%%k %%T\\n')\n", cfg.Embedded.BrokerAddr, cfg.Kafka.Topics().Membership)
	fmt.Fprintf(&b, "  data           %s\n", cfg.DataDir)
	demoKey := collectorAddr != "" && len(cfg.Collector.Sources) == 1 && cfg.Collector.Sources[0].WriteKey == DemoWriteKey
	demoToken := len(cfg.Admin.Tokens) == 1 && cfg.Admin.Tokens[0] == DemoAdminToken
	if demoKey || demoToken {
		b.WriteString("\n  FOR TRYING IT OUT ONLY — demo credentials:\n")
		if demoKey {
			fmt.Fprintf(&b, "    write key    %s\n", DemoWriteKey)
		}
		if demoToken {
			fmt.Fprintf(&b, "    admin token  %[1]s    (Authorization: Bearer %[1]s)\n", DemoAdminToken)
		}
	}
	b.WriteString("\n")
	fmt.Fprint(os.Stderr, b.String())
}

// schemaTopics maps every contract to the topic that carries it: the Serde
// registers each contract's latest schema under "<topic>-value", and the
// embedded registry serves every version there, so that consumers such as
// kcat -s value=avro decode every topic.
func schemaTopics(t kafka.Topics) map[schemas.Kind]string {
	return map[schemas.Kind]string{
		schemas.KindRaw:        t.Raw,
		schemas.KindEnriched:   t.Enriched,
		schemas.KindMembership: t.Membership,
		schemas.KindFailed:     t.Failed,
		schemas.KindCorrection: t.Corrections,
	}
}

// retryTopics calls ensure every few seconds until it succeeds, then waits
// for ctx to end.
func retryTopics(ctx context.Context, log *slog.Logger, ensure func(context.Context) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := ensure(tctx)
		cancel()
		if err == nil {
			log.Info("kafka topics checked")
			<-ctx.Done()
			return nil
		}
	}
}
