package session

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/stream"
)

// codecCases are states the codec must carry exactly.
func codecCases() []visitor {
	return []visitor{
		{sessions: []session{{id: sessionID("v", "e"), index: 1, start: t0, last: t0}}},
		{sessions: []session{{id: sessionID("v", "f"), index: 1 << 20, start: -5000, last: 1 << 50, campaign: "spring"}}},
		{sessions: []session{{index: 0, start: 0, last: 0}}},
		{
			horizon: t0 - 90*minute, hasHorizon: true,
			sessions: []session{
				{id: sessionID("v", "a"), index: 7, start: t0, last: t0 + 5*minute, campaign: "x"},
				{id: sessionID("v", "b"), index: 8, start: t0 + 5*minute, last: t0 + 9*minute, campaign: "y"},
				{id: sessionID("v", "c"), index: 9, start: t0 + 90*minute, last: t0 + 90*minute},
			},
		},
		{
			horizon: math.MaxInt64 / 2, hasHorizon: true,
			sessions: []session{{id: sessionID("w", "a"), index: math.MaxInt32, start: math.MinInt64 / 2, last: math.MaxInt64 / 2}},
		},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for i, want := range codecCases() {
		b := want.encode()
		require.Equal(t, byte(codecVersion), b[0])
		var got visitor
		require.NoError(t, got.decodeAll(b), "case %d", i)
		require.Equal(t, want, got, "case %d", i)
	}
	one := visitor{sessions: []session{{id: sessionID("v", "e"), index: 3, start: t0, last: t0 + 25*minute}}}
	require.LessOrEqual(t, len(one.encode()), 32, "a one-session record stays small")
}

// decodeAll decodes b, older sessions included.
func (v *visitor) decodeAll(b []byte) error {
	if err := v.decode(b); err != nil {
		return err
	}
	return v.full()
}

// appendV1 lays out a version 1 record as the previous release wrote it.
func appendV1(b []byte, id [16]byte, index uint32, start int64, span uint64) []byte {
	b = append(b, 1)
	b = append(b, id[:]...)
	b = binary.AppendUvarint(b, uint64(index))
	b = binary.AppendVarint(b, start)
	return binary.AppendUvarint(b, span)
}

func TestCodecDecodesVersion1(t *testing.T) {
	id := sessionID("v", "first")
	var got visitor
	require.NoError(t, got.decodeAll(appendV1(nil, id, 4, t0, uint64(12*minute))))
	require.Equal(t, visitor{sessions: []session{{id: id, index: 4, start: t0, last: t0 + 12*minute}}}, got)

	// A tracker over a store written by the previous release continues the
	// stored session and rewrites it as version 2.
	store := stream.NewTestStore("sessions")
	store.Put("v", appendV1(nil, id, 4, t0, uint64(12*minute)))
	store.Changelog()
	tr := NewTracker(store, 30*time.Minute, Options{})
	a, err := tr.Assign("v", "next", t0+40*minute, "")
	require.NoError(t, err)
	require.Equal(t, Assignment{ID: got.sessions[0].hex(), Index: 4}, a)
	a, err = tr.Assign("v", "before", t0-20*minute, "")
	require.NoError(t, err)
	require.Equal(t, Assignment{ID: got.sessions[0].hex(), Index: 4}, a)
	tr.Flush()
	b, ok := store.Get("v")
	require.True(t, ok)
	require.Equal(t, byte(codecVersion), b[0])
	var now visitor
	require.NoError(t, now.decodeAll(b))
	require.Equal(t, []session{{id: id, index: 4, start: t0 - 20*minute, last: t0 + 40*minute}}, now.sessions)
}

func TestCodecRejectsCorrupt(t *testing.T) {
	cases := codecCases()
	good := cases[3].encode()
	v1 := appendV1(nil, sessionID("v", "e"), 3, t0, 10)
	withCount := func(n uint64) []byte {
		b := binary.AppendUvarint([]byte{codecVersion}, n)
		return append(b, good[2:]...)
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"version only":       {codecVersion},
		"unknown version":    append([]byte{3}, good[1:]...),
		"truncated":          good[:len(good)-1],
		"half":               good[:len(good)/2],
		"trailing byte":      append(append([]byte{}, good...), 0),
		"zero sessions":      withCount(0),
		"more sessions":      withCount(4),
		"absurd count":       withCount(1 << 40),
		"horizon flag":       append(append([]byte{}, good[:3]...), append([]byte{2}, good[4:]...)...),
		"v1 short":           v1[:10],
		"v1 truncated":       v1[:len(v1)-1],
		"v1 trailing byte":   append(append([]byte{}, v1...), 0),
		"v1 span overflow":   appendV1(nil, sessionID("v", "e"), 3, math.MaxInt64-5, 1<<40),
		"campaign length":    append(append([]byte{}, good[:len(good)-1]...), 0xff, 0x7f),
		"index beyond int32": append(binary.AppendUvarint([]byte{codecVersion, 1}, 1<<31), good[4:]...),
		"start after overflow": func() []byte {
			v := visitor{sessions: []session{
				{index: 1, start: math.MaxInt64 - 20, last: math.MaxInt64 - 20},
				{index: 2, start: math.MaxInt64 - 15, last: math.MaxInt64 - 15},
				{index: 3, start: math.MaxInt64 - 5, last: math.MaxInt64 - 5},
			}}
			b := v.encode()
			b[len(b)-3] = 0x7f // session 2's start: 127 after session 1's last
			return b
		}(),
		"newest before older": (&visitor{sessions: []session{
			{index: 1, start: t0, last: t0 + 10*minute},
			{index: 2, start: t0 + 5*minute, last: t0 + 20*minute},
		}}).encode(),
	} {
		var v visitor
		require.ErrorIs(t, v.decodeAll(b), errCorrupt, name)
		if name == "start after overflow" {
			require.ErrorContains(t, v.decodeAll(b), "bad start")
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range codecCases() {
		f.Add(v.encode())
	}
	f.Add(appendV1(nil, sessionID("v", "e"), 3, t0, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v visitor
		if v.decodeAll(b) != nil {
			return
		}
		// What decodes is a valid history and survives a round trip.
		require.NotEmpty(t, v.sessions)
		for i := 1; i < len(v.sessions); i++ {
			require.LessOrEqual(t, v.sessions[i-1].last, v.sessions[i].start)
			require.Equal(t, v.sessions[i-1].index+1, v.sessions[i].index)
		}
		var again visitor
		require.NoError(t, again.decodeAll(v.encode()))
		require.Equal(t, v, again)
	})
}

// TestOldSessionsLeaveTheRecord: a visitor with a session every two hours
// (events 10 minutes apart for an hour) and a one-hour lateness bound keeps
// in its record only the sessions the bound can still reach. The previous
// session falls out of reach while the newest is being extended, the path
// that leaves older sessions undecoded.
func TestOldSessionsLeaveTheRecord(t *testing.T) {
	store := stream.NewTestStore("sessions")
	tr := NewTracker(store, 30*time.Minute, Options{Lateness: time.Hour})
	for k := range int64(30) {
		for i := range int64(7) {
			a, err := tr.Assign("v", fmt.Sprintf("s%d-e%d", k, i), t0+k*120*minute+i*10*minute, "")
			require.NoError(t, err)
			require.Equal(t, int32(k+1), a.Index)
			tr.Flush()
		}
		b, _ := store.Get("v")
		var v visitor
		require.NoError(t, v.decodeAll(b))
		require.Len(t, v.sessions, 1, "session %d", k)
		require.Equal(t, int32(k+1), v.sessions[0].index)
		require.True(t, v.hasHorizon || k == 0)
	}
}

// FuzzAssignOverStoredBytes: whatever the stored record, assigning events
// before, inside and after it never panics, and Flush writes a record that
// decodes if the stored one did (older sessions the events did not need are
// copied undecoded, so a corrupt part of them may stay until needed).
func FuzzAssignOverStoredBytes(f *testing.F) {
	for _, v := range codecCases() {
		f.Add(v.encode(), int64(0))
	}
	f.Add(appendV1(nil, sessionID("v", "e"), 3, t0, 10), int64(-40))
	f.Fuzz(func(t *testing.T, b []byte, shift int64) {
		var in visitor
		valid := in.decodeAll(b) == nil
		store := stream.NewTestStore("sessions")
		store.Put("v", b)
		tr := NewTracker(store, 30*time.Minute, Options{Lateness: time.Hour, MaxSessions: 3})
		for i, d := range []int64{0, -40, 100, -10, 35, -200, 1} {
			a, err := tr.Assign("v", fmt.Sprint(i), t0+(shift+d)*minute, []string{"", "x"}[i%2])
			if err != nil {
				require.ErrorIs(t, err, errCorrupt)
			}
			require.Len(t, a.ID, 32)
		}
		tr.Flush()
		out, ok := store.Get("v")
		require.True(t, ok)
		var v visitor
		if valid {
			require.NoError(t, v.decodeAll(out))
		} else {
			_ = v.decodeAll(out) // must not panic
		}
	})
}
