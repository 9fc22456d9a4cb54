// Package e2e holds end-to-end tests that build the sillage binary and run
// it as a real process: the REES46 replay on the embedded default (with a
// SIGKILL restart in the middle) and the whole pipeline against a real
// Apache Kafka broker (when SILLAGE_TEST_KAFKA_BROKERS is set; `make test`
// starts one), including the cart-abandonment e-mail journey against a
// real SMTP server (mailpit, internal/testmailpit), and the REES46 replay
// into a lake on a real S3 server (versitygw, internal/tests3) stopped in
// the middle of the replay.
package e2e
