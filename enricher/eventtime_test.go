package enricher

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCorrectTime(t *testing.T) {
	const recv = int64(1_700_000_000_000)
	const bound = int64(10 * 60 * 1000)
	tests := []struct {
		name           string
		original, sent int64
		want, wantSkew int64
		wantClamped    bool
	}{
		{"no timestamps: received", 0, 0, recv, 0, false},
		{"no sentAt: original kept", recv - 5000, 0, recv - 5000, 0, false},
		{"device clock 1h ahead", recv + 3600_000 - 2000, recv + 3600_000, recv - 2000, 3600_000, false},
		{"device clock 1h behind", recv - 3600_000 - 7000, recv - 3600_000, recv - 7000, -3600_000, false},
		{"queued offline for a day", recv - 86_400_000, recv - 1000, recv - 86_400_000 + 1000, -1000, false},
		{"within the future bound", recv + bound, 0, recv + bound, 0, false},
		{"beyond the future bound", recv + bound + 1, 0, recv, 0, true},
		{"created after it was sent", recv + 3600_000, recv, recv, 0, true},
		{"corrected time not positive", 1000, recv + 5000, recv, 5000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := correctTime(tt.original, tt.sent, recv, bound)
			require.Equal(t, eventTime{at: tt.want, skew: tt.wantSkew, clamped: tt.wantClamped}, got)
		})
	}
}
