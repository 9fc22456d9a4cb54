package schemas

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDirectCodecMatchesGoavro(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			fixed := []Nativer{samples()[kind]}
			switch kind {
			case KindRaw:
				fixed = append(fixed, &RawEvent{}, &RawEvent{EventID: "m", Type: "t", ClientHints: map[string]string{}})
			case KindEnriched:
				fixed = append(fixed, &EnrichedEvent{}, &EnrichedEvent{Raw: RawEvent{EventID: "m", Type: "t"}})
			case KindMembership:
				fixed = append(fixed, &MembershipTransition{Transition: Exited})
			case KindFailed:
				fixed = append(fixed, &FailedEvent{}, &FailedEvent{Payload: []byte{}})
			case KindCorrection:
				fixed = append(fixed, &Correction{Kind: ProfilesMerged}, &Correction{Kind: SessionsMerged, FromIndex: -1, IntoIndex: math.MaxInt32})
			}
			for i, v := range fixed {
				t.Run(fmt.Sprint("fixed", i), func(t *testing.T) { crossCheck(t, kind, v) })
			}
			r := rand.New(rand.NewPCG(uint64(len(kind)), 42))
			for i := 0; i < 1000; i++ {
				crossCheck(t, kind, genValue(r, kind))
			}
		})
	}
}

func TestDirectCodecRejectsUnknownTransition(t *testing.T) {
	s := &Serde{}
	for _, tr := range []Transition{"", "entered", "LEFT"} {
		_, ok, err := s.encodeDirect(KindMembership, 1, &MembershipTransition{Transition: tr}, nil)
		require.True(t, ok)
		require.ErrorContains(t, err, "neither ENTERED nor EXITED")
		_, gerr := Latest(KindMembership).Codec.BinaryFromNative(nil, (&MembershipTransition{Transition: tr}).Native())
		require.Error(t, gerr, "goavro refuses it too")
	}
}

// mapBlocks is a raw event body whose client_hints map is written in
// several blocks, one with a negative count and a byte size, as Java and
// other writers may do; goavro reads it, and so must the direct codec.
func mapBlocks() []byte {
	e := RawEvent{EventID: "m", Type: "track"}
	b := appendRaw(nil, &e)
	without := appendRaw(nil, &RawEvent{EventID: "m", Type: "track", ClientHints: map[string]string{"k": "v"}})
	p := 0
	for b[p] == without[p] {
		p++
	}
	var blocks []byte
	blocks = appendLong(blocks, 1)
	blocks = appendString(appendString(blocks, "a"), "1")
	entry := appendString(appendString(nil, "b"), "22")
	blocks = appendLong(blocks, -1)
	blocks = appendLong(blocks, int64(len(entry)))
	blocks = append(blocks, entry...)
	blocks = append(blocks, 0)
	return append(append(append([]byte{}, b[:p]...), blocks...), b[p+1:]...)
}

func TestDirectCodecReadsMapBlocks(t *testing.T) {
	b := mapBlocks()
	want, err := goavroDecode(KindRaw, b)
	require.NoError(t, err)
	got, err := directDecode(KindRaw, b)
	require.NoError(t, err)
	requireSameValue(t, want, got)
	require.Equal(t, map[string]string{"a": "1", "b": "22"}, got.(*RawEvent).ClientHints)
}

func TestDirectCodecRejectsCorruptInput(t *testing.T) {
	for kind, v := range samples() {
		b := directEncode(t, kind, v)
		for i := 0; i < len(b); i++ {
			_, err := directDecode(kind, b[:i])
			require.Error(t, err, "%s truncated to %d of %d bytes", kind, i, len(b))
		}
		_, err := directDecode(kind, append(b, 0))
		require.ErrorContains(t, err, "1 trailing bytes")
	}
	ones := bytes.Repeat([]byte{0xff}, 9)
	raw := func(mutate func(prefix []byte) []byte) []byte {
		return mutate(appendString(nil, "m")) // event_id read, then the source
	}
	cases := map[string]struct {
		kind Kind
		body []byte
		want string
	}{
		"string length past the end": {KindRaw, raw(func(p []byte) []byte { return appendLong(p, 1<<40) }), "truncated"},
		"huge string length":         {KindRaw, raw(func(p []byte) []byte { return appendLong(p, 1<<62) }), "truncated"},
		"negative string length":     {KindRaw, raw(func(p []byte) []byte { return appendLong(p, -3) }), "negative string length"},
		"varint of 11 bytes":         {KindRaw, raw(func(p []byte) []byte { return append(append(p, ones...), 0xff, 0x01) }), "overflows"},
		"varint with bits past 64":   {KindRaw, raw(func(p []byte) []byte { return append(append(p, ones...), 0x02) }), "overflows"},
		"map count past the end":     {KindRaw, hintsAt(appendLong(nil, 1<<40)), "truncated"},
		"map min count":              {KindRaw, hintsAt(appendLong(nil, -1<<63)), "out of range"},
		"map block size past end":    {KindRaw, hintsAt(appendLong(appendLong(nil, -1), 1<<30)), "truncated"},
		"duplicate map key":          {KindRaw, hintsAt(dupHints()), "duplicate map key"},
		"boolean byte 2":             {KindMembership, membershipBool(2), "neither 0 nor 1"},
		"enum index 2":               {KindMembership, membershipEnum(2), "out of range"},
		"enum index -1":              {KindMembership, membershipEnum(-1), "out of range"},
		"int out of range":           {KindFailed, failedPartition(1 << 31), "int out of range"},
		"correction enum index 2":    {KindCorrection, correctionEnum(2), "kind enum index 2 out of range"},
		"correction enum index -1":   {KindCorrection, correctionEnum(-1), "kind enum index -1 out of range"},
		"correction index past int":  {KindCorrection, correctionFromIndex(-1<<31 - 1), "int out of range"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := directDecode(c.kind, c.body)
			require.ErrorContains(t, err, c.want)
			if !raceEnabled {
				allocs := testing.AllocsPerRun(20, func() { _, _ = directDecode(c.kind, c.body) })
				require.Less(t, allocs, 12.0, "a bad length must not make it allocate")
			}
		})
	}
}

// hintsAt is a raw event body cut at client_hints, followed by tail.
func hintsAt(tail []byte) []byte {
	b := appendRaw(nil, &RawEvent{EventID: "m", Type: "t"})
	w := appendRaw(nil, &RawEvent{EventID: "m", Type: "t", ClientHints: map[string]string{"k": "v"}})
	p := 0
	for b[p] == w[p] {
		p++
	}
	return append(b[:p:p], tail...)
}

func dupHints() []byte {
	b := appendLong(nil, 2)
	b = appendString(appendString(b, "k"), "v")
	b = appendString(appendString(b, "k"), "w")
	return append(b, 0)
}

func membershipBool(c byte) []byte {
	b := appendMembershipOK(&MembershipTransition{Transition: Entered})
	b[len(b)-1] = c
	return b
}

func membershipEnum(idx int64) []byte {
	b := appendString(appendString(appendString(nil, "i"), "s"), "p")
	b = appendLong(b, idx)
	return append(b, appendMembershipOK(&MembershipTransition{Transition: Entered})[7:]...)
}

func appendMembershipOK(t *MembershipTransition) []byte {
	t.ID, t.Segment, t.ProfileID = "i", "s", "p"
	b, err := appendMembership(nil, t)
	if err != nil {
		panic(err)
	}
	return b
}

// correctionEnum is a correction body whose kind has enum index idx.
func correctionEnum(idx int64) []byte {
	b, err := appendCorrection(nil, &Correction{ID: "i", Kind: ProfilesMerged})
	if err != nil {
		panic(err)
	}
	return append(appendLong(b[:2:2], idx), b[3:]...) // the id "i", then the enum index
}

// correctionFromIndex is a correction body whose from_index is p.
func correctionFromIndex(p int64) []byte {
	b, err := appendCorrection(nil, &Correction{Kind: SessionsMerged})
	if err != nil {
		panic(err)
	}
	return append(appendLong(b[:6:6], p), b[7:]...) // id, kind, then four empty strings
}

func failedPartition(p int64) []byte {
	b := appendFailed(nil, &FailedEvent{})
	return append(appendLong(b[:7:7], p), b[8:]...) // seven empty strings, then the int
}

// mapRegistry is a registry with fixed schemas by id.
type mapRegistry map[int]string

func (m mapRegistry) Register(_ context.Context, _, schema string) (int, error) {
	for id, s := range m {
		if s == schema {
			return id, nil
		}
	}
	id := 100 + len(m)
	m[id] = schema
	return id, nil
}

func (m mapRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	if s, ok := m[id]; ok {
		return s, nil
	}
	return "", fmt.Errorf("id %d: %w", id, ErrUnknownSchema)
}

func TestDirectCodecSortsMapKeys(t *testing.T) {
	hints := map[string]string{}
	for _, k := range []string{"sec-ch-ua", "sec-ch-ua-platform", "sec-ch-ua-mobile", "a", "z", "m", "b", "y", "c", "x"} {
		hints[k] = "v-" + k
	}
	e := RawEvent{EventID: "m", Type: "t", ClientHints: hints}
	first := appendRaw(nil, &e)
	for i := 0; i < 20; i++ {
		require.Equal(t, first, appendRaw(nil, &e), "deterministic whatever the map order")
	}
	r := reader{b: first[5:]} // after event_id "m", source "", type "t": 5 empty strings
	for i := 0; i < 5; i++ {
		require.Empty(t, r.str())
	}
	r.long()
	r.long()
	r.long()
	r.str()
	r.str()
	require.Equal(t, int64(len(hints)), r.long())
	var keys []string
	for range hints {
		keys = append(keys, r.str())
		r.str()
	}
	require.NoError(t, r.err)
	require.IsIncreasing(t, keys)
}
