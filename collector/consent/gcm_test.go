package consent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseGCS(t *testing.T) {
	tests := []struct {
		in      string
		want    GCS
		wantErr string
	}{
		{"G100", GCS{Denied, Denied}, ""},
		{"G101", GCS{Denied, Granted}, ""},
		{"G110", GCS{Granted, Denied}, ""},
		{"G111", GCS{Granted, Granted}, ""},
		{"G1--", GCS{Unset, Unset}, ""},
		{"G1-1", GCS{Unset, Granted}, ""},
		{"", GCS{}, "want G1 followed by two of 0, 1, -"},
		{"G11", GCS{}, "want G1 followed by two of 0, 1, -"},
		{"G1111", GCS{}, "want G1 followed by two of 0, 1, -"},
		{"g111", GCS{}, "want G1 followed by two of 0, 1, -"},
		{"G211", GCS{}, "want G1 followed by two of 0, 1, -"},
		{"G1x1", GCS{}, `character 3 is 'x', want 0, 1 or -`},
		{"G11y", GCS{}, `character 4 is 'y', want 0, 1 or -`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseGCS(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
