// Package testkafka gives tests a Kafka cluster: an in-process kfake cluster
// by default, or the real Apache Kafka brokers named by the environment
// variable SILLAGE_TEST_KAFKA_BROKERS (as `make test` sets for integration
// tests, after scripts/kafka.sh start).
//
// The same test therefore runs on kfake in `go test ./...` and on real Kafka
// in the integration run. Each test gets a topic prefix of its own (Prefix),
// so tests sharing one real broker never see each other's topics; on a real
// broker the topics under that prefix are deleted when the test ends.
//
// How it fails: an unreachable real broker, a kfake cluster that cannot
// start, or a topic that cannot be created fails the test at once with the
// cause (t.Fatal); clean-up problems are only logged.
package testkafka
