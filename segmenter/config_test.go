package segmenter

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
	require.NoError(t, fs.Parse([]string{"-segmenter.definitions=x.yaml", "-segmenter.allowed-lateness=1h",
		"-segmenter.quiet-period=2s", "-segmenter.idle-timeout=30s", "-segmenter.recent-events=3"}))
	require.Equal(t, Config{DefinitionsPath: "x.yaml", AllowedLateness: time.Hour, QuietPeriod: 2 * time.Second, IdleTimeout: 30 * time.Second,
		RecentEvents: 3}, c)

	bad := Config{AllowedLateness: -time.Second, RecentEvents: 101}
	err := bad.Validate()
	require.ErrorContains(t, err, "segmenter.allowed_lateness: -1s, want >= 0")
	require.ErrorContains(t, err, "segmenter.quiet_period: 0s, want > 0")
	require.ErrorContains(t, err, "segmenter.idle_timeout: 0s, want > 0")
	require.ErrorContains(t, err, "segmenter.recent_events: 101, want 0 to 100")
}

func TestNewRejectsMissingDeps(t *testing.T) {
	_, err := New(DefaultConfig(), Deps{})
	require.ErrorContains(t, err, "Deps.Logger is required")
	require.ErrorContains(t, err, "Deps.Serde is required")
	require.ErrorContains(t, err, "Deps.Topics needs")
}

func TestStreamConfig(t *testing.T) {
	h := newHarness(t, DefaultConfig(), "")
	sc := h.seg.StreamConfig()
	require.Equal(t, "segmenter", sc.Name)
	require.Equal(t, []string{testTopics().Enriched}, sc.Topics)
	require.Equal(t, []string{"profiles"}, sc.Stores)
	require.True(t, sc.Transactional)
}
