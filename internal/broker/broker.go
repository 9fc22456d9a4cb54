// Package broker runs the embedded Kafka-protocol broker of the embedded
// default: franz-go's kfake with its data directory on disk, so a restart
// continues where the previous run stopped. It is for trying Sillage on one
// machine, not for production (use real Kafka with -kafka.brokers).
package broker

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running embedded broker.
type Broker struct {
	c *kfake.Cluster
}

// Start starts the broker on 127.0.0.1:port (0 picks a free port) with its
// data under dir. Topics are created by the stages, not auto-created.
func Start(addr string, dir string, log *slog.Logger) (*Broker, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	if host != "127.0.0.1" && host != "localhost" && host != "" {
		return nil, fmt.Errorf("embedded broker address %q: it only listens on 127.0.0.1", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker port %q: %w", portStr, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(dir),
		kfake.ClusterID("sillage-embedded"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(8 << 20)}),
	)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker on %s (data %s): %w", addr, dir, err)
	}
	log.Info("embedded Kafka-protocol broker started", "addr", c.ListenAddrs()[0], "data", dir)
	return &Broker{c: c}, nil
}

// Addrs returns the bootstrap addresses.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker, flushing its data to disk.
func (b *Broker) Close() { b.c.Close() }
