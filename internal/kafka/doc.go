// Package kafka builds franz-go clients from Sillage's configuration, names
// the topics, and creates or checks them at start-up. Producers it builds are
// idempotent with acks=all; a topic that exists with fewer partitions or a
// different cleanup policy than required is reported as an error naming it.
package kafka
