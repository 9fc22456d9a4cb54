package segmenter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestAppendStateMatchesEncodingJSON(t *testing.T) {
	states := []*profileState{
		{V: 1},
		{V: 1, Consent: schemas.Consent{Necessary: true, Marketing: true}, Seen: []uint64{1, 18446744073709551615},
			UserID: "u-é", AnonIDs: []string{"a1", "a\"2"}, Recent: []recentEvent{{ID: "e1", Type: "track", Name: "Order <x>", Time: 5}, {Time: 0}}},
		{V: 1, Segments: map[string]*segmentState{
			"b": {Member: true, Since: 1569888000000, Due: 1569889800000, Start: 12, StartEvent: `ev-"1"<&>é`, Completed: []int64{1, 2}},
			"a": {Times: []int64{5, 6, 7}, Values: []float64{12.5, -3, 1e-7, 1e21, 0.1, 100}, Starts: []int64{0, 9}, Expire: 77},
			"d": {Member: true, Since: 3, Cause: "ev-<1>"},
			"c": {},
		}},
		{V: 1, Traits: map[string]any{"plan": "pro", "n": 3.0, "ok": true, "nested": map[string]any{"x": []any{1.0, "y"}}, "none": nil, "k\n": "<b>"},
			Computed: map[string]any{"lifetime_value": 120.5, "first_source": "newsletter", "big": 1.5e300, "tiny": -2e-9}},
	}
	for _, st := range states {
		want, err := json.Marshal(st)
		require.NoError(t, err)
		got, err := appendState(nil, st)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		back, err := decodeState(got)
		require.NoError(t, err)
		again, err := appendState(nil, back)
		require.NoError(t, err)
		require.Equal(t, string(got), string(again), "stable through a decode")
	}
	_, err := appendState(nil, &profileState{V: 1, Computed: map[string]any{"x": json.Number("1")}})
	require.NoError(t, err)
}
