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
	require.Equal(t, Config{Group: "g", Concurrency: 2, BackoffBase: time.Second, BackoffMax: time.Minute}, c)
	err := Config{BackoffBase: time.Second}.Validate()
	require.ErrorContains(t, err, "workflow.concurrency: 0")
	require.ErrorContains(t, err, "workflow.backoff_max: 0s, want >= backoff_base (1s)")
}
