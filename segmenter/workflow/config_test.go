package workflow

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-workflow.group=g", "-workflow.concurrency=2", "-workflow.backoff-base=1s", "-workflow.backoff-max=1m"}))
	require.Equal(t, Config{Group: "g", Concurrency: 2, BackoffBase: time.Second, BackoffMax: time.Minute, MessageCapPer: 24 * time.Hour}, c)
	require.NoError(t, fs.Parse([]string{"-workflow.message-cap=3", "-workflow.message-cap-per=168h"}))
	require.Equal(t, 3, c.MessageCap)
	require.Equal(t, 168*time.Hour, c.MessageCapPer)
	require.ErrorContains(t, Config{Concurrency: 1, BackoffBase: 1, BackoffMax: 1, MessageCap: -1}.Validate(), "workflow.message_cap: -1, want 0 (no cap) to 100")
	require.ErrorContains(t, Config{Concurrency: 1, BackoffBase: 1, BackoffMax: 1, MessageCap: 2}.Validate(), "workflow.message_cap_per: 0s, want > 0 with a message cap")
	err := Config{BackoffBase: time.Second}.Validate()
	require.ErrorContains(t, err, "workflow.concurrency: 0")
	require.ErrorContains(t, err, "workflow.backoff_max: 0s, want >= backoff_base (1s)")
}
