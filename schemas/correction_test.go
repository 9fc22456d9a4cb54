package schemas

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

func TestCorrectionKindString(t *testing.T) {
	require.Equal(t, "PROFILES_MERGED", ProfilesMerged.String())
	require.Equal(t, "SESSIONS_MERGED", SessionsMerged.String())
	require.Equal(t, "CorrectionKind(0)", CorrectionKind(0).String())
	require.Equal(t, "CorrectionKind(9)", CorrectionKind(9).String())
	// The Go constants follow the Avro enum's symbols, in order.
	var rec struct {
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	require.NoError(t, json.Unmarshal([]byte(Latest(KindCorrection).Schema), &rec))
	require.Equal(t, "kind", rec.Fields[1].Name)
	var enum struct {
		Symbols []string `json:"symbols"`
	}
	require.NoError(t, json.Unmarshal(rec.Fields[1].Type, &enum))
	require.Equal(t, []string{ProfilesMerged.String(), SessionsMerged.String()}, enum.Symbols)
	for _, k := range []CorrectionKind{ProfilesMerged, SessionsMerged} {
		require.Equal(t, k, correctionKindOf(k.String()))
	}
	require.Zero(t, correctionKindOf("profiles_merged"))
}

func TestCorrectionID(t *testing.T) {
	id := CorrectionID("PROFILES_MERGED", "anon-1", "user-1", "msg-1")
	// Pinned (computed independently): ids must not change across releases,
	// consumers drop duplicates by id.
	require.Equal(t, "df1fd1340403b93ed43ccdd7033866fd", id)
	require.Equal(t, "66687aadf862bd776c8fc18b8e9f8e20", CorrectionID("", "", "", ""))
	raw, err := hex.DecodeString(id)
	require.NoError(t, err)
	require.Len(t, raw, 16)
	require.Equal(t, id, CorrectionID("PROFILES_MERGED", "anon-1", "user-1", "msg-1"), "deterministic")

	seen := map[string][4]string{}
	for _, parts := range [][4]string{
		{"PROFILES_MERGED", "anon-1", "user-1", "msg-1"},
		{"SESSIONS_MERGED", "anon-1", "user-1", "msg-1"},
		{"PROFILES_MERGED", "anon-2", "user-1", "msg-1"},
		{"PROFILES_MERGED", "anon-1", "user-2", "msg-1"},
		{"PROFILES_MERGED", "anon-1", "user-1", "msg-2"},
		{"PROFILES_MERGED", "user-1", "anon-1", "msg-1"}, // from and into swapped
		// Boundaries between parts are not ambiguous, even with NUL bytes.
		{"PROFILES_MERGED", "anon-1u", "ser-1", "msg-1"},
		{"PROFILES_MERGED", "anon-1\x00", "user-1", "msg-1"},
		{"PROFILES_MERGED", "anon-1", "\x00user-1", "msg-1"},
		{"", "", "", ""},
		{"", "", "", "\x00"},
	} {
		id := CorrectionID(parts[0], parts[1], parts[2], parts[3])
		require.Len(t, id, 32)
		prev, dup := seen[id]
		require.False(t, dup, "%q and %q give the same id", parts, prev)
		seen[id] = parts
	}
}

func TestCorrectionWithoutAKindIsRefused(t *testing.T) {
	direct, viaGoavro := newTestSerdes(t)
	for _, k := range []CorrectionKind{0, 3, 255} {
		c := &Correction{ID: "i", Kind: k, ProfileID: "p"}
		_, ok, err := direct.encodeDirect(KindCorrection, 1, c, nil)
		require.True(t, ok)
		require.ErrorContains(t, err, "is neither PROFILES_MERGED nor SESSIONS_MERGED")
		for _, s := range []*Serde{direct, viaGoavro} {
			_, err := s.Encode(KindCorrection, c, nil)
			require.ErrorContains(t, err, "encoding correction", "kind %d", k)
		}
	}
}

// correctionWriter returns the latest correction schema edited by edit, for
// records written by another version of the contract.
func correctionWriter(t testing.TB, edit func(fields []any) []any) string {
	t.Helper()
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(Latest(KindCorrection).Schema), &s))
	s["fields"] = edit(s["fields"].([]any))
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

func TestCorrectionFromOtherWriterSchemas(t *testing.T) {
	reg := mapRegistry{}
	s, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	encode := func(id int, schema string, native map[string]any) []byte {
		t.Helper()
		reg[id] = schema
		codec, err := goavro.NewCodec(schema)
		require.NoError(t, err)
		body, err := codec.BinaryFromNative(nil, native)
		require.NoError(t, err)
		return frame(id, body)
	}
	sample := *samples()[KindCorrection].(*Correction)

	t.Run("without the fields that have defaults", func(t *testing.T) {
		withDefaults := map[string]bool{}
		schema := correctionWriter(t, func(fields []any) []any {
			var kept []any
			for _, f := range fields {
				fm := f.(map[string]any)
				if _, ok := fm["default"]; ok {
					withDefaults[fm["name"].(string)] = true
					continue
				}
				kept = append(kept, f)
			}
			return kept
		})
		require.Equal(t, map[string]bool{"visitor_id": true, "from_index": true, "into_index": true, "cause_event_id": true, "source": true}, withDefaults)
		native := sample.Native()
		for name := range withDefaults {
			delete(native, name)
		}
		data := encode(7, schema, native)
		_, direct := s.directReader(data, KindCorrection)
		require.False(t, direct, "another writer schema is read by goavro")
		got, err := s.DecodeCorrection(context.Background(), data)
		require.NoError(t, err)
		want := sample
		want.VisitorID, want.FromIndex, want.IntoIndex, want.CauseEventID, want.Source = "", 0, 0, "", ""
		require.Equal(t, &want, got)
	})

	t.Run("with a kind this version does not know", func(t *testing.T) {
		schema := correctionWriter(t, func(fields []any) []any {
			enum := fields[1].(map[string]any)["type"].(map[string]any)
			enum["symbols"] = append(enum["symbols"].([]any), "VISITORS_MERGED")
			return fields
		})
		native := sample.Native()
		native["kind"] = "VISITORS_MERGED"
		got, err := s.DecodeCorrection(context.Background(), encode(8, schema, native))
		require.EqualError(t, err, `correction: unknown kind "VISITORS_MERGED"`)
		want := sample
		want.Kind = 0
		require.Equal(t, &want, got, "the rest is filled, so that the caller can name the record")

		native["kind"] = "PROFILES_MERGED"
		got, err = s.DecodeCorrection(context.Background(), encode(8, schema, native))
		require.NoError(t, err)
		want.Kind = ProfilesMerged
		require.Equal(t, &want, got)
	})

	t.Run("another contract's record", func(t *testing.T) {
		data, err := s.Encode(KindMembership, samples()[KindMembership], nil)
		require.NoError(t, err)
		_, direct := s.directReader(data, KindCorrection)
		require.False(t, direct)
		_, err = s.DecodeCorrection(context.Background(), data)
		require.Error(t, err, "a membership transition is not a correction")
	})
}
