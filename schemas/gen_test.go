package schemas

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Value generators and cross-checks shared by the direct codec's tests.

var (
	strPool = []string{
		"", "a", "track", "none", "{}", `{"a":[1,2,{"b":null}]}`, "é", "日本語のテキスト", "🎉🚀👩‍👩‍👧",
		"\x00nul\x00", "\xff\xfe not utf-8", "tab\tand\nnewline", strings.Repeat("x", 63), strings.Repeat("y", 64),
		strings.Repeat("z", 200), strings.Repeat("long ", 1800),
	}
	longPool = []int64{
		0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, math.MaxInt32, math.MinInt32, math.MaxInt32 + 1,
		1569888000123, -1569888000123, 1 << 62, -(1 << 62), math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1,
	}
	int32Pool  = []int32{0, 1, -1, 63, -64, 64, -65, math.MaxInt32, math.MinInt32, 1 << 20}
	doublePool = []float64{
		0, math.Copysign(0, -1), 51.75, -1.25, 1e-300, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
	}
)

func pick[T any](r *rand.Rand, pool []T) T { return pool[r.IntN(len(pool))] }

func genHints(r *rand.Rand) map[string]string {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	case 2:
		return map[string]string{pick(r, strPool): pick(r, strPool)}
	}
	m := map[string]string{}
	for n := 2 + r.IntN(10); len(m) < n; {
		k := pick(r, strPool)
		m[fmt.Sprintf("%s-%d", k[:min(5, len(k))], r.IntN(50))] = pick(r, strPool)
	}
	return m
}

func genConsent(r *rand.Rand) Consent {
	m := r.IntN(32)
	return Consent{Necessary: m&1 != 0, Analytics: m&2 != 0, Personalisation: m&4 != 0, Marketing: m&8 != 0, Advertising: m&16 != 0}
}

func genRaw(r *rand.Rand) RawEvent {
	s := func() string { return pick(r, strPool) }
	l := func() int64 { return pick(r, longPool) }
	e := RawEvent{
		EventID: s(), Source: s(), Type: s(), Event: s(), AnonymousID: s(), UserID: s(), PreviousID: s(), GroupID: s(),
		Timestamp: l(), SentAt: l(), ReceivedAt: l(), IP: s(), UserAgent: s(), ClientHints: genHints(r),
		PageURL: s(), PagePath: s(), PageReferrer: s(), PageTitle: s(), Locale: s(), LibraryName: s(), LibraryVersion: s(),
		ContextJSON: s(), PropertiesJSON: s(), TraitsJSON: s(), Consent: genConsent(r),
		ConsentSignal: ConsentSignal{Origin: s(), CategoriesJSON: s(), TCF: s(), GCS: s(), GPC: r.IntN(2) == 1},
	}
	if r.IntN(10) > 0 { // mostly valid: event_id and type are required
		e.EventID, e.Type = "m-"+e.EventID, "t"+e.Type
	}
	return e
}

func genEnriched(r *rand.Rand) EnrichedEvent {
	s := func() string { return pick(r, strPool) }
	l := func() int64 { return pick(r, longPool) }
	d := func() float64 { return pick(r, doublePool) }
	return EnrichedEvent{
		Raw: genRaw(r), ProfileID: s(), EventTime: l(), ClockSkewMs: l(), TimeClamped: r.IntN(2) == 1,
		SessionID: s(), SessionIndex: pick(r, int32Pool),
		Geo:       Geo{CountryCode: s(), Country: s(), Region: s(), City: s(), PostalCode: s(), Latitude: d(), Longitude: d(), TimeZone: s(), ASN: l(), ASOrg: s()},
		UA:        UserAgent{Browser: s(), BrowserVersion: s(), OS: s(), OSVersion: s(), Device: s(), DeviceBrand: s(), DeviceModel: s()},
		Bot:       r.IntN(2) == 1,
		Referrer:  Referrer{Medium: s(), Source: s(), Term: s(), Host: s()},
		Campaign:  Campaign{Source: s(), Medium: s(), Name: s(), Term: s(), Content: s(), ClickID: s()},
		BotReason: s(), EnrichedAt: l(),
	}
}

func genMembership(r *rand.Rand) MembershipTransition {
	s := func() string { return pick(r, strPool) }
	return MembershipTransition{
		ID: s(), Segment: s(), ProfileID: s(), Transition: pick(r, []Transition{Entered, Exited}),
		CauseEventID: s(), Reason: s(), EventTime: pick(r, longPool), EvaluatedAt: pick(r, longPool), Consent: genConsent(r),
	}
}

func genFailed(r *rand.Rand) FailedEvent {
	s := func() string { return pick(r, strPool) }
	payloads := [][]byte{nil, {}, {0}, []byte(strings.Repeat("\x00\xff", 300))}
	return FailedEvent{
		ID: s(), Stage: s(), Reason: s(), Detail: s(), EventID: s(), Source: s(), SourceTopic: s(),
		SourcePartition: pick(r, int32Pool), SourceOffset: pick(r, longPool), Payload: pick(r, payloads), FailedAt: pick(r, longPool),
	}
}

func genCorrection(r *rand.Rand) Correction {
	s := func() string { return pick(r, strPool) }
	return Correction{
		ID: s(), Kind: pick(r, []CorrectionKind{ProfilesMerged, SessionsMerged}), ProfileID: s(), From: s(), Into: s(),
		VisitorID: s(), FromIndex: pick(r, int32Pool), IntoIndex: pick(r, int32Pool), CauseEventID: s(), Source: s(),
		EventTime: pick(r, longPool), CorrectedAt: pick(r, longPool),
	}
}

func genValue(r *rand.Rand, kind Kind) Nativer {
	switch kind {
	case KindRaw:
		v := genRaw(r)
		return &v
	case KindEnriched:
		v := genEnriched(r)
		return &v
	case KindMembership:
		v := genMembership(r)
		return &v
	case KindCorrection:
		v := genCorrection(r)
		return &v
	case KindFailed:
		v := genFailed(r)
		return &v
	}
	panic("genValue: no generator for " + string(kind))
}

// directEncode is the direct codec's Avro body of v.
func directEncode(t testing.TB, kind Kind, v Nativer) []byte {
	t.Helper()
	s := &Serde{}
	b, ok, err := s.encodeDirect(kind, 0, v, nil)
	require.True(t, ok)
	require.NoError(t, err)
	return b[5:]
}

// directDecode reads an Avro body with the direct codec.
func directDecode(kind Kind, b []byte) (Nativer, error) {
	r := reader{b: b}
	var v Nativer
	var err error
	switch kind {
	case KindRaw:
		e := new(RawEvent)
		v, err = e, r.readRaw(e)
	case KindEnriched:
		e := new(EnrichedEvent)
		v, err = e, r.readEnriched(e)
	case KindMembership:
		e := new(MembershipTransition)
		v, err = e, r.readMembership(e)
	case KindCorrection:
		e := new(Correction)
		v, err = e, r.readCorrection(e)
	case KindFailed:
		e := new(FailedEvent)
		v, err = e, r.readFailed(e)
	default:
		return nil, fmt.Errorf("directDecode: no reader for %s", kind)
	}
	if aerr := r.end(); aerr != nil {
		return nil, aerr
	}
	return v, err
}

// goavroDecode reads an Avro body as the Serde did before the direct codec:
// goavro's native form, then FromNative.
func goavroDecode(kind Kind, b []byte) (Nativer, error) {
	native, rest, err := Latest(kind).Codec.NativeFromBinary(b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(rest))
	}
	m, _ := native.(map[string]any)
	var v interface{ FromNative(map[string]any) error }
	switch kind {
	case KindRaw:
		v = new(RawEvent)
	case KindEnriched:
		v = new(EnrichedEvent)
	case KindMembership:
		v = new(MembershipTransition)
	case KindCorrection:
		v = new(Correction)
	case KindFailed:
		v = new(FailedEvent)
	default:
		return nil, fmt.Errorf("goavroDecode: no Go type for %s", kind)
	}
	return v.(Nativer), v.FromNative(m)
}

// requireSameValue compares decoded values by their Go syntax, which tells
// nil from empty maps and slices and, unlike ==, finds NaN equal to NaN.
func requireSameValue(t testing.TB, want, got Nativer, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, fmt.Sprintf("%#v", want), fmt.Sprintf("%#v", got), msgAndArgs...)
}

func hintsOf(v Nativer) map[string]string {
	switch x := v.(type) {
	case *RawEvent:
		return x.ClientHints
	case *EnrichedEvent:
		return x.Raw.ClientHints
	}
	return nil
}

// requireSameAvro checks that the direct codec's bytes are goavro's, byte for
// byte. The one freedom: goavro writes map entries in Go's random map order
// (the direct codec sorts keys), so with two or more client hints the map
// block must be the same size, one block of the same count, and hold the
// same entries, with everything before and after it identical.
func requireSameAvro(t testing.TB, kind Kind, v Nativer, direct, viaGoavro []byte) {
	t.Helper()
	if bytes.Equal(direct, viaGoavro) {
		return
	}
	hints := hintsOf(v)
	require.Greater(t, len(hints), 1, "%s: direct bytes differ from goavro's\ndirect %x\ngoavro %x", kind, direct, viaGoavro)
	require.Len(t, viaGoavro, len(direct))
	var without []byte // the same value with no hints: prefix, a 0 count, suffix
	switch x := v.(type) {
	case *RawEvent:
		c := *x
		c.ClientHints = nil
		without = appendRaw(nil, &c)
	case *EnrichedEvent:
		c := *x
		c.Raw.ClientHints = nil
		without = appendEnriched(nil, &c)
	}
	p := 0
	for p < len(without) && without[p] == direct[p] {
		p++
	}
	suffix := len(without) - p - 1
	require.Equal(t, direct[:p], viaGoavro[:p], "before the map")
	require.Equal(t, direct[len(direct)-suffix:], viaGoavro[len(viaGoavro)-suffix:], "after the map")
	block := viaGoavro[p : len(viaGoavro)-suffix]
	r := reader{b: block}
	require.Equal(t, int64(len(hints)), r.long(), "one block with every entry")
	r = reader{b: block}
	got := r.stringMap()
	require.NoError(t, r.end())
	require.Equal(t, hints, got)
}

// crossCheck encodes v with both codecs and decodes both outputs with both,
// requiring the same bytes and the same values.
func crossCheck(t testing.TB, kind Kind, v Nativer) {
	t.Helper()
	direct := directEncode(t, kind, v)
	viaGoavro, err := Latest(kind).Codec.BinaryFromNative(nil, v.Native())
	require.NoError(t, err)
	requireSameAvro(t, kind, v, direct, viaGoavro)
	want, werr := goavroDecode(kind, viaGoavro)
	for _, b := range [][]byte{viaGoavro, direct} {
		got, gerr := directDecode(kind, b)
		requireSameResult(t, want, werr, got, gerr)
	}
}

// requireSameResult compares what the goavro path and the direct codec
// decoded: both fail or neither; a value returned with an error (the Avro
// decoded, the contract's check failed) must be the same with the same
// message. Avro errors are worded differently by the two.
func requireSameResult(t testing.TB, want Nativer, werr error, got Nativer, gerr error) {
	t.Helper()
	require.Equal(t, werr == nil, gerr == nil, "goavro path: %v; direct: %v", werr, gerr)
	if isNil(want) || isNil(got) {
		require.Equal(t, isNil(want), isNil(got), "goavro path: %v; direct: %v", werr, gerr)
		return
	}
	requireSameValue(t, want, got)
	if werr != nil {
		require.EqualError(t, gerr, werr.Error())
	}
}

func isNil(v Nativer) bool { return v == nil || reflect.ValueOf(v).IsNil() }
