// Package e2e holds end-to-end tests that build the sillage binary and run
// it as a real process: the REES46 replay on the embedded default (with a
// SIGKILL restart in the middle) and the whole pipeline against a real
// Apache Kafka broker (when SILLAGE_TEST_KAFKA_BROKERS is set; `make test`
// starts one).
package e2e
