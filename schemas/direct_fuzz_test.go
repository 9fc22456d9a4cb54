package schemas

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDirectRoundTrip builds values of every contract from fuzzed fields and
// requires the direct codec to write goavro's bytes and read back what the
// goavro path reads.
func FuzzDirectRoundTrip(f *testing.F) {
	f.Add("msg-1", "track", int64(1569888000123), int64(-500), int32(3), 51.75, uint8(0x15), []byte{1, 2, 3}, "sec-ch-ua", `"Chromium";v="120"`)
	f.Add("", "", int64(-1<<63), int64(1<<63-1), int32(-1<<31), -0.0, uint8(0xff), []byte(nil), "", "")
	f.Add("日本", "\xff", int64(64), int64(-65), int32(64), 1e308, uint8(0x80), []byte{}, "é", "🎉")
	f.Fuzz(func(t *testing.T, s1, s2 string, n1, n2 int64, i1 int32, d float64, flags uint8, payload []byte, hk, hv string) {
		bit := func(i uint) bool { return flags&(1<<i) != 0 }
		consent := Consent{Necessary: bit(0), Analytics: bit(1), Personalisation: bit(2), Marketing: bit(3), Advertising: bit(4)}
		var hints map[string]string
		switch {
		case bit(5):
			hints = map[string]string{hk: hv, hv + "-2": s1, s2 + "-3": hk}
		case bit(6):
			hints = map[string]string{}
		}
		raw := RawEvent{
			EventID: s1, Source: s2, Type: s2, Event: s1, AnonymousID: s2, UserID: s1, Timestamp: n1, SentAt: n2, ReceivedAt: n1 ^ n2,
			IP: s2, UserAgent: s1, ClientHints: hints, PageURL: s1, PageTitle: s2, ContextJSON: s1, PropertiesJSON: s2,
			Consent: consent, ConsentSignal: ConsentSignal{Origin: s2, TCF: s1, GPC: bit(7)},
		}
		crossCheck(t, KindRaw, &raw)
		crossCheck(t, KindEnriched, &EnrichedEvent{
			Raw: raw, ProfileID: s2, EventTime: n2, ClockSkewMs: n1, TimeClamped: bit(2), SessionID: s1, SessionIndex: i1,
			Geo: Geo{CountryCode: s2, City: s1, Latitude: d, Longitude: -d, ASN: n2}, UA: UserAgent{Browser: s1, DeviceModel: s2},
			Bot: bit(3), BotReason: s2, Referrer: Referrer{Term: s1}, Campaign: Campaign{ClickID: s2}, EnrichedAt: n1,
		})
		crossCheck(t, KindMembership, &MembershipTransition{
			ID: s1, Segment: s2, ProfileID: s1, Transition: []Transition{Entered, Exited}[flags&1], CauseEventID: s2,
			EventTime: n1, EvaluatedAt: n2, Consent: consent,
		})
		crossCheck(t, KindFailed, &FailedEvent{
			ID: s1, Stage: s2, Detail: s1, SourcePartition: i1, SourceOffset: n2, Payload: payload, FailedAt: n1,
		})
		crossCheck(t, KindCorrection, &Correction{
			ID: s2, Kind: []CorrectionKind{ProfilesMerged, SessionsMerged}[flags>>7], ProfileID: s1, From: s2, Into: s1,
			VisitorID: hk, FromIndex: i1, IntoIndex: -i1, CauseEventID: hv, Source: s2, EventTime: n2, CorrectedAt: n1,
		})
	})
}

// FuzzDirectDecode feeds arbitrary bodies to the direct decoder: it must
// never panic, and whatever it accepts goavro must accept as the same value.
// (The converse does not hold: the direct decoder refuses some inputs goavro
// lets through, such as varints longer than 10 bytes or an int past 32 bits;
// goavro never writes them. Goavro is not run on what the direct decoder
// refuses, because goavro sizes a map by its claimed count before reading it.)
func FuzzDirectDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for i, kind := range Kinds {
		f.Add(uint8(i), directEncode(f, kind, samples()[kind]))
		f.Add(uint8(i), directEncode(f, kind, genValue(r, kind)))
	}
	f.Add(uint8(0), mapBlocks())
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		kind := Kinds[int(k)%len(Kinds)]
		got, err := directDecode(kind, body)
		if got == nil {
			require.Error(t, err)
			return // not Avro of this schema
		}
		want, werr := goavroDecode(kind, body)
		requireSameResult(t, want, werr, got, err)
	})
}
