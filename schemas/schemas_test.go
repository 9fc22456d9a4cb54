package schemas

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testTopics = map[Kind]string{
	KindRaw:        "sillage.events.raw",
	KindEnriched:   "sillage.events.enriched",
	KindMembership: "sillage.segments.membership",
	KindFailed:     "sillage.events.failed",
	KindCorrection: "sillage.events.corrections",
}

func sampleRaw() RawEvent {
	return RawEvent{
		EventID: "msg-1", Source: "demo", Type: "track", Event: "Product Added",
		AnonymousID: "anon-1", UserID: "user-1", Timestamp: 1569888000123, SentAt: 1569888000500, ReceivedAt: 1569888001000,
		IP: "81.2.69.0", UserAgent: "Mozilla/5.0", ClientHints: map[string]string{"sec-ch-ua-platform": `"Linux"`},
		PageURL: "https://shop.example/p/1", PagePath: "/p/1", PageReferrer: "https://www.google.com/", PageTitle: "Shoe",
		Locale: "fr-FR", LibraryName: "sillage.js", LibraryVersion: "0.1.0",
		ContextJSON: `{"page":{"path":"/p/1"}}`, PropertiesJSON: `{"product_id":"1","price":9.5}`, TraitsJSON: `{}`,
		Consent:       Consent{Necessary: true, Analytics: true, Marketing: true},
		ConsentSignal: ConsentSignal{Origin: "tag", CategoriesJSON: `{"analytics":true,"marketing":true}`},
	}
}

func samples() map[Kind]Nativer {
	raw := sampleRaw()
	return map[Kind]Nativer{
		KindRaw: &raw,
		KindEnriched: &EnrichedEvent{
			Raw: raw, ProfileID: "user-1", EventTime: 1569888000623, ClockSkewMs: -500, SessionID: "s-1", SessionIndex: 3,
			Geo:        Geo{CountryCode: "GB", Country: "United Kingdom", City: "Boxford", Latitude: 51.75, Longitude: -1.25, TimeZone: "Europe/London", ASN: 1234},
			UA:         UserAgent{Browser: "Firefox", BrowserVersion: "120.0", OS: "Linux", Device: "Other"},
			Referrer:   Referrer{Medium: "search", Source: "Google", Host: "www.google.com"},
			Campaign:   Campaign{Source: "newsletter", Medium: "email", Name: "autumn"},
			EnrichedAt: 1569888001100,
		},
		KindMembership: &MembershipTransition{
			ID: "t-1", Segment: "cart_abandoned", ProfileID: "user-1", Transition: Entered, Reason: "no Order Completed within 30m",
			EventTime: 1569889800123, EvaluatedAt: 1569889801000, Consent: Consent{Necessary: true, Personalisation: true},
		},
		KindFailed: &FailedEvent{
			ID: "f-1", Stage: "enricher", Reason: "undecodable", Detail: "bad magic byte", SourceTopic: "sillage.events.raw",
			SourcePartition: 2, SourceOffset: 42, Payload: []byte{1, 2, 3}, FailedAt: 1569888001000,
		},
		KindCorrection: &Correction{
			ID: CorrectionID("SESSIONS_MERGED", "s-1", "s-2", "msg-1"), Kind: SessionsMerged, ProfileID: "user-1",
			From: "s-1", Into: "s-2", VisitorID: "anon-1", FromIndex: 4, IntoIndex: 3, CauseEventID: "msg-1", Source: "demo",
			EventTime: 1569888000623, CorrectedAt: 1569888001100,
		},
	}
}

func decodeInto(t *testing.T, s *Serde, kind Kind, b []byte) Nativer {
	t.Helper()
	ctx := context.Background()
	var (
		v   Nativer
		err error
	)
	switch kind {
	case KindRaw:
		v, err = s.DecodeRaw(ctx, b)
	case KindEnriched:
		v, err = s.DecodeEnriched(ctx, b)
	case KindMembership:
		v, err = s.DecodeMembership(ctx, b)
	case KindFailed:
		v, err = s.DecodeFailed(ctx, b)
	case KindCorrection:
		v, err = s.DecodeCorrection(ctx, b)
	default:
		t.Fatalf("no decoder for %s", kind)
	}
	require.NoError(t, err)
	return v
}

func TestRoundTripAndGolden(t *testing.T) {
	reg := NewEmbeddedRegistry(testTopics)
	s, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	for kind, v := range samples() {
		t.Run(string(kind), func(t *testing.T) {
			b, err := s.Encode(kind, v, nil)
			require.NoError(t, err)
			require.Equal(t, byte(0), b[0], "magic byte")
			require.Equal(t, Latest(kind).EmbeddedID, s.SchemaID(kind), "embedded ids are fixed")
			got := decodeInto(t, s, kind, b)
			require.Equal(t, v, got)

			golden := filepath.Join("testdata", string(kind)+".v1.hex")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(hex.EncodeToString(b)+"\n"), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "golden file missing: run go test ./schemas -update")
			wantBytes, err := hex.DecodeString(string(want[:len(want)-1]))
			require.NoError(t, err)
			require.Equal(t, wantBytes, b, "encoding changed: a new schema version must be added instead of editing v1")
			// Old golden bytes still decode with the current code.
			require.Equal(t, v, decodeInto(t, s, kind, wantBytes))
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	reg := NewEmbeddedRegistry(testTopics)
	s, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = s.DecodeRaw(ctx, []byte("{}"))
	require.ErrorIs(t, err, ErrNotAvro)
	_, err = s.DecodeRaw(ctx, []byte{0, 0, 0, 0, 99, 1})
	require.ErrorContains(t, err, "schema id 99")
	raw := sampleRaw()
	b, err := s.Encode(KindRaw, &raw, nil)
	require.NoError(t, err)
	_, err = s.DecodeRaw(ctx, b[:len(b)-3])
	require.Error(t, err)
	_, err = s.Encode(Kind("nope"), &raw, nil)
	require.ErrorContains(t, err, "not registered")
}

func FuzzDecode(f *testing.F) {
	reg := NewEmbeddedRegistry(testTopics)
	s, err := NewSerde(context.Background(), reg, testTopics)
	require.NoError(f, err)
	raw := sampleRaw()
	b, _ := s.Encode(KindRaw, &raw, nil)
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = s.DecodeNative(context.Background(), data)
	})
}

type flakyRegistry struct {
	*EmbeddedRegistry
	down bool
}

func (f *flakyRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	if f.down {
		return "", errors.New("connection refused")
	}
	return f.EmbeddedRegistry.SchemaByID(ctx, id)
}

func TestRegistryErrorsAreTyped(t *testing.T) {
	reg := &flakyRegistry{EmbeddedRegistry: NewEmbeddedRegistry(testTopics), down: true}
	// A serde that only writes membership, so raw's id must be looked up.
	s, err := NewSerde(context.Background(), reg, map[Kind]string{KindMembership: testTopics[KindMembership]})
	require.NoError(t, err)
	writer, err := NewSerde(context.Background(), reg.EmbeddedRegistry, testTopics)
	require.NoError(t, err)
	raw := sampleRaw()
	b, err := writer.Encode(KindRaw, &raw, nil)
	require.NoError(t, err)
	_, err = s.DecodeRaw(context.Background(), b)
	require.ErrorIs(t, err, ErrRegistryUnavailable)
	reg.down = false
	got, err := s.DecodeRaw(context.Background(), b)
	require.NoError(t, err, "an unavailable registry is not cached as a failure")
	require.Equal(t, &raw, got)
	_, err = s.DecodeRaw(context.Background(), []byte{0, 0, 0, 1, 0, 2})
	require.ErrorIs(t, err, ErrUnknownSchema)
}
