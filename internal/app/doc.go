// Package app assembles Sillage's stages into one process according to
// -target, loads the configuration (defaults, then the YAML file, then
// flags), and runs everything with ordered start and shutdown: downstream
// stages start first and stop last; the collector stops accepting first.
//
// The embedded default (target "all" with no Kafka brokers configured)
// starts an embedded Kafka-protocol broker with its data under the data
// directory, serves the schema registry API on the admin port, and
// configures the demo source and admin token (for trying Sillage out only).
package app
