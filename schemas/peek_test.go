package schemas

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEventIDStaysFirst guards PeekEventID: event_id must stay the first
// field of every raw event version, and the enriched event must keep
// starting with the raw event.
func TestEventIDStaysFirst(t *testing.T) {
	for _, v := range allVersions {
		if v.Kind != KindRaw && v.Kind != KindEnriched {
			continue
		}
		var rec struct {
			Fields []struct {
				Name string          `json:"name"`
				Type json.RawMessage `json:"type"`
			} `json:"fields"`
		}
		require.NoError(t, json.Unmarshal([]byte(v.Schema), &rec))
		require.NotEmpty(t, rec.Fields)
		first := rec.Fields[0]
		if v.Kind == KindRaw {
			require.Equal(t, "event_id", first.Name, "%s v%d", v.Kind, v.Version)
			require.JSONEq(t, `"string"`, string(first.Type))
			continue
		}
		var inner struct {
			Name   string `json:"name"`
			Fields []struct {
				Name string `json:"name"`
			} `json:"fields"`
		}
		require.NoError(t, json.Unmarshal(first.Type, &inner), "%s v%d: first field must be the raw event record", v.Kind, v.Version)
		require.Equal(t, "RawEvent", inner.Name)
		require.Equal(t, "event_id", inner.Fields[0].Name)
	}
}

func TestPeekEventID(t *testing.T) {
	s, err := NewSerde(context.Background(), NewEmbeddedRegistry(testTopics), testTopics)
	require.NoError(t, err)
	for kind, v := range samples() {
		if kind != KindRaw && kind != KindEnriched {
			continue
		}
		b, err := s.Encode(kind, v, nil)
		require.NoError(t, err)
		id, err := PeekEventID(b)
		require.NoError(t, err)
		require.Equal(t, "msg-1", id, kind)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 0}, {1, 0, 0, 0, 1, 2}, {0, 0, 0, 0, 1, 20, 'a'}, {0, 0, 0, 0, 1, 1}} {
		_, err := PeekEventID(bad)
		require.Error(t, err, "%v", bad)
	}
}
