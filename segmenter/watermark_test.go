package segmenter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func clockConfig() Config {
	return Config{AllowedLateness: 10 * time.Second, QuietPeriod: 5 * time.Second, IdleTimeout: time.Minute}
}

func TestWatermarkRules(t *testing.T) {
	wall := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }

	t.Run("busy partition: own newest event time minus lateness", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a, b := newPartitionClock(inst, wall), newPartitionClock(inst, wall)
		require.Equal(t, noTime, a.watermark(wall), "nothing seen yet")
		a.observe(ms(t0), wall)
		b.observe(ms(t0.Add(time.Hour)), wall)
		require.Equal(t, ms(t0)-10_000, a.watermark(wall.Add(time.Second)), "b's progress does not fire a's timers")
		require.Equal(t, ms(t0.Add(time.Hour))-10_000, b.watermark(wall.Add(time.Second)))
	})
	t.Run("quiet partition: the instance's newest event time", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a, b := newPartitionClock(inst, wall), newPartitionClock(inst, wall)
		a.observe(ms(t0), wall)
		b.observe(ms(t0.Add(time.Hour)), wall.Add(4*time.Second))
		require.Equal(t, ms(t0)-10_000, a.watermark(wall.Add(4999*time.Millisecond)))
		require.Equal(t, ms(t0.Add(time.Hour)), a.watermark(wall.Add(5*time.Second)))
	})
	t.Run("a new partition is not quiet before QuietPeriod", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a := newPartitionClock(inst, wall)
		fresh := newPartitionClock(inst, wall.Add(3*time.Second))
		a.observe(ms(t0), wall.Add(3*time.Second))
		require.Equal(t, noTime, fresh.watermark(wall.Add(4*time.Second)))
		require.Equal(t, ms(t0), fresh.watermark(wall.Add(8*time.Second)))
	})
	t.Run("idle live stream follows the wall clock", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a := newPartitionClock(inst, wall)
		a.observe(ms(wall.Add(-200*time.Millisecond)), wall) // live: 200ms behind
		require.Equal(t, ms(wall.Add(-200*time.Millisecond)), a.watermark(wall.Add(59*time.Second)))
		require.Equal(t, ms(wall.Add(59800*time.Millisecond)), a.watermark(wall.Add(time.Minute)))
		require.Equal(t, ms(wall.Add(30*time.Minute-200*time.Millisecond)), a.watermark(wall.Add(30*time.Minute)))
	})
	t.Run("a replay of old data is not live: its end stays where it is", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a := newPartitionClock(inst, wall)
		a.observe(ms(t0), wall)
		require.Equal(t, ms(t0), a.watermark(wall.Add(24*time.Hour)))
	})
	t.Run("never goes back; the future is capped at the wall clock", func(t *testing.T) {
		inst := newEventClock(clockConfig(), wall)
		a := newPartitionClock(inst, wall)
		a.observe(ms(wall.Add(10*365*24*time.Hour)), wall)
		require.Equal(t, ms(wall)-10_000, a.watermark(wall))
		require.True(t, a.observe(ms(wall.Add(-time.Hour)), wall), "older than the watermark: late")
		require.Equal(t, ms(wall)-10_000, a.watermark(wall))
	})
}

// TestLiveAbandonmentFiresOnTime: a single visitor on a quiet live stream
// enters the segment when the window closes, by the wall clock.
func TestLiveAbandonmentFiresOnTime(t *testing.T) {
	h := newHarness(t, DefaultConfig(), "")
	start := h.now.Add(-100 * time.Millisecond)
	h.process(h.event("p", "track", "Product Added", start))
	var got []*schemas.MembershipTransition
	for i := 0; i < 30*60*5+5 && len(got) == 0; i++ { // 200ms ticks
		got = h.transitions(h.tick(200 * time.Millisecond))
		if len(got) > 0 {
			require.WithinDuration(t, start.Add(30*time.Minute), h.now, 300*time.Millisecond)
		}
	}
	requireTransitions(t, got, want{"cart_abandoned", "p", schemas.Entered, start.Add(30 * time.Minute)})
}
