package schemas

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

func newTestSerdes(t testing.TB) (direct, viaGoavro *Serde) {
	t.Helper()
	reg := NewEmbeddedRegistry(testTopics)
	direct, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	viaGoavro, err = NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	viaGoavro.noDirect = true
	return direct, viaGoavro
}

func serdeDecode(s *Serde, kind Kind, b []byte) (Nativer, error) {
	ctx := context.Background()
	switch kind {
	case KindRaw:
		return s.DecodeRaw(ctx, b)
	case KindEnriched:
		return s.DecodeEnriched(ctx, b)
	case KindMembership:
		return s.DecodeMembership(ctx, b)
	case KindCorrection:
		return s.DecodeCorrection(ctx, b)
	case KindFailed:
		return s.DecodeFailed(ctx, b)
	}
	return nil, fmt.Errorf("serdeDecode: no decoder for %s", kind)
}

func TestSerdeDirectPathMatchesGoavroPath(t *testing.T) {
	direct, viaGoavro := newTestSerdes(t)
	r := rand.New(rand.NewPCG(7, 7))
	for _, kind := range Kinds {
		for i := 0; i < 300; i++ {
			v := genValue(r, kind)
			a, err := direct.Encode(kind, v, nil)
			require.NoError(t, err)
			b, err := viaGoavro.Encode(kind, v, []byte("prefix"))
			require.NoError(t, err)
			b = b[len("prefix"):]
			require.Equal(t, b[:5], a[:5], "same framing")
			requireSameAvro(t, kind, v, a[5:], b[5:])
			require.True(t, func() bool { _, ok := direct.directReader(b, kind); return ok }(), "the writer's id takes the direct path")
			want, werr := serdeDecode(viaGoavro, kind, b)
			got, gerr := serdeDecode(direct, kind, b)
			requireSameResult(t, want, werr, got, gerr)
		}
	}
}

// rawV0 is a made-up older raw event schema without client hints, traits and
// consent signal: records written with it take the goavro path.
func rawV0(t testing.TB) string {
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(Latest(KindRaw).Schema), &s))
	var kept []any
	for _, f := range s["fields"].([]any) {
		switch f.(map[string]any)["name"] {
		case "client_hints", "traits_json", "consent_signal":
		default:
			kept = append(kept, f)
		}
	}
	s["fields"] = kept
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

func frame(id int, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...)
}

func TestSerdeFallsBackToGoavroForOtherWriterSchemas(t *testing.T) {
	reg := mapRegistry{}
	s, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	reg[7] = rawV0(t)
	codec, err := goavro.NewCodec(reg[7])
	require.NoError(t, err)
	old := sampleRaw()
	native := old.Native()
	delete(native, "client_hints")
	delete(native, "traits_json")
	delete(native, "consent_signal")
	body, err := codec.BinaryFromNative(nil, native)
	require.NoError(t, err)
	data := frame(7, body)
	_, direct := s.directReader(data, KindRaw)
	require.False(t, direct, "an older writer schema is not read directly")

	got, err := s.DecodeRaw(context.Background(), data)
	require.NoError(t, err)
	want := sampleRaw()
	want.ClientHints, want.TraitsJSON, want.ConsentSignal = nil, "", ConsentSignal{}
	require.Equal(t, &want, got)
	_, direct = s.directReader(data, KindRaw)
	require.False(t, direct, "still not after a look-up")

	enriched, err := s.Encode(KindEnriched, samples()[KindEnriched], nil)
	require.NoError(t, err)
	_, direct = s.directReader(enriched, KindRaw)
	require.False(t, direct, "another contract's id is not read as a raw event")
}

func TestSerdeLearnsIDsOfTheLatestSchema(t *testing.T) {
	// A registry that hands back the latest raw schema reformatted under an
	// id this serde did not register (it only writes membership).
	var pretty map[string]any
	require.NoError(t, json.Unmarshal([]byte(Latest(KindRaw).Schema), &pretty))
	text, err := json.MarshalIndent(pretty, "", "  ")
	require.NoError(t, err)
	reg := mapRegistry{55: string(text)}
	s, err := NewSerde(context.Background(), reg, map[Kind]string{KindMembership: "m"})
	require.NoError(t, err)
	raw := sampleRaw()
	data := frame(55, appendRaw(nil, &raw))

	_, direct := s.directReader(data, KindRaw)
	require.False(t, direct, "unknown until looked up")
	for i := 0; i < 2; i++ {
		got, err := s.DecodeRaw(context.Background(), data)
		require.NoError(t, err)
		require.Equal(t, &raw, got)
		_, direct = s.directReader(data, KindRaw)
		require.True(t, direct, "the looked-up id is the latest raw schema")
	}
	_, err = s.DecodeRaw(context.Background(), data[:len(data)-2])
	require.ErrorContains(t, err, "decoding Avro with schema id 55")
}

func TestSerdeDirectEncodeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	direct, _ := newTestSerdes(t)
	raw, enriched := benchRaw(), benchEnriched()
	buf := make([]byte, 0, 4096)
	for _, c := range []struct {
		kind Kind
		v    Nativer
	}{{KindRaw, &raw}, {KindEnriched, &enriched}, {KindFailed, samples()[KindFailed]}, {KindCorrection, samples()[KindCorrection]}} {
		require.Zero(t, testing.AllocsPerRun(50, func() { _, _ = direct.Encode(c.kind, c.v, buf[:0]) }), "%s into a buffer with room", c.kind)
		require.Equal(t, 1.0, testing.AllocsPerRun(50, func() { _, _ = direct.Encode(c.kind, c.v, nil) }), "%s into nil: one allocation", c.kind)
	}
	data, err := direct.Encode(KindRaw, &raw, nil)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(50, func() { _, _ = direct.DecodeRaw(context.Background(), data) })
	require.LessOrEqual(t, allocs, 16.0, "the struct, the map and one string per non-repeating field")
}

func TestSerdeDecodeReturnsTheValueWhenOnlyTheContractCheckFails(t *testing.T) {
	direct, viaGoavro := newTestSerdes(t)
	raw := sampleRaw()
	raw.Type = ""
	data, err := direct.Encode(KindRaw, &raw, nil)
	require.NoError(t, err)
	for _, s := range []*Serde{direct, viaGoavro} {
		got, err := s.DecodeRaw(context.Background(), data)
		require.EqualError(t, err, "raw event: missing event_id or type")
		require.Equal(t, &raw, got, "callers name the precise reason from the value")
		_, err = s.DecodeRaw(context.Background(), data[:len(data)-1])
		require.ErrorContains(t, err, "decoding Avro with schema id 1")
	}
	enriched := EnrichedEvent{Raw: raw, ProfileID: "p"}
	data, err = direct.Encode(KindEnriched, &enriched, nil)
	require.NoError(t, err)
	for _, s := range []*Serde{direct, viaGoavro} {
		got, err := s.DecodeEnriched(context.Background(), data)
		require.EqualError(t, err, "enriched event: raw event: missing event_id or type")
		require.Equal(t, &EnrichedEvent{}, got)
	}
}

func TestSerdeDirectDecodeIsSafeConcurrently(t *testing.T) {
	direct, _ := newTestSerdes(t)
	const workers = 4
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := 0; i < 200; i++ {
				v := genEnriched(r)
				v.Raw.EventID, v.Raw.Type = "m", "track"
				data, err := direct.Encode(KindEnriched, &v, nil)
				if err == nil {
					var got *EnrichedEvent
					if got, err = direct.DecodeEnriched(context.Background(), data); err == nil && got.Geo.City != v.Geo.City {
						err = fmt.Errorf("city %q decoded as %q", v.Geo.City, got.Geo.City)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		require.NoError(t, <-errs)
	}
}
