package spool

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func rec(i int) Record {
	return Record{
		Key:       []byte("anon-" + strconv.Itoa(i%7)),
		Value:     []byte(strings.Repeat("v", i%50) + "|" + strconv.Itoa(i)),
		EventID:   "evt-" + strconv.Itoa(i),
		Produced:  int64(1_700_000_000_000 + i),
		Attempted: i%3 == 0,
	}
}

func open(t testing.TB, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	require.NoError(t, err)
	return s
}

// readAll seals and reads every segment, oldest first.
func readAll(t testing.TB, s *Spool) []Record {
	t.Helper()
	segs, err := s.Seal()
	require.NoError(t, err)
	var all []Record
	for _, seg := range segs {
		recs, err := s.Read(seg)
		require.NoError(t, err)
		require.Len(t, recs, seg.Records, seg.Path)
		all = append(all, recs...)
	}
	return all
}

func TestAppendSealReadRemove(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 2000})
	var want []Record
	for i := 0; i < 100; i += 4 {
		batch := []Record{rec(i), rec(i + 1), rec(i + 2), rec(i + 3)}
		require.NoError(t, s.Append(batch))
		want = append(want, batch...)
	}
	want[0].Key = nil // an empty key reads back as nil
	require.NoError(t, s.Append([]Record{{EventID: "no-key", Value: []byte("x"), Produced: 5}}))
	want = append(want, Record{EventID: "no-key", Value: []byte("x"), Produced: 5})

	st := s.Stats()
	require.Equal(t, 101, st.Records)
	require.Equal(t, time.UnixMilli(5), st.Oldest)

	segs, err := s.Seal()
	require.NoError(t, err)
	require.Greater(t, len(segs), 1, "segments rotate past SegmentBytes")
	got := readAll(t, s)
	want[0].Key = []byte("anon-0")
	require.Equal(t, want, got)

	for _, seg := range segs {
		require.NoError(t, s.Remove(seg))
	}
	require.Equal(t, Stats{}, s.Stats())
	require.Error(t, s.Remove(segs[0]), "a removed segment is not sealed any more")
	require.NoError(t, s.Close())
	left, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestReopenKeepsRecordsAndAppendsAfter(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	require.NoError(t, s.Append([]Record{rec(1), rec(2)}))
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Append([]Record{rec(3)}), ErrClosed)

	s = open(t, dir, Options{})
	require.Equal(t, 2, s.Stats().Records)
	require.NoError(t, s.Append([]Record{rec(3)}))
	segs, err := s.Seal()
	require.NoError(t, err)
	require.Len(t, segs, 2)
	require.True(t, segs[0].Recovered, "left by the previous run")
	require.False(t, segs[1].Recovered)
	require.Equal(t, 1, segs[1].Attempted, "rec(3) is an attempted record")
	got := readAll(t, s)
	require.Equal(t, []string{"evt-1", "evt-2", "evt-3"}, ids(got))
	require.NoError(t, s.Close())
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].EventID
	}
	return out
}

func TestTornAndCorruptTailsAreCut(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string, size int64){
		"torn header": func(t *testing.T, path string, _ int64) { appendBytes(t, path, []byte{9, 0, 0}) },
		"torn payload": func(t *testing.T, path string, _ int64) {
			f := appendFrame(nil, &Record{EventID: "torn", Value: []byte("payload")})
			appendBytes(t, path, f[:len(f)-3])
		},
		"bad crc": func(t *testing.T, path string, size int64) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[size-1] ^= 0xff // last byte of the last frame
			require.NoError(t, os.WriteFile(path, b, 0o640))
		},
		"huge length": func(t *testing.T, path string, _ int64) {
			appendBytes(t, path, []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{})
			require.NoError(t, s.Append([]Record{rec(1), rec(2)}))
			require.NoError(t, s.Append([]Record{rec(3)}))
			require.NoError(t, s.Close())
			segs, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
			require.NoError(t, err)
			require.Len(t, segs, 1)
			fi, err := os.Stat(segs[0])
			require.NoError(t, err)
			damage(t, segs[0], fi.Size())

			s = open(t, dir, Options{})
			want := []string{"evt-1", "evt-2", "evt-3"}
			if name == "bad crc" {
				want = want[:2] // the damaged frame itself is lost
			}
			require.NoError(t, s.Append([]Record{rec(4)}), "appends after recovery")
			require.Equal(t, append(want, "evt-4"), ids(readAll(t, s)))
			require.NoError(t, s.Close())
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestFullRefusesWithoutChange(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 300})
	big := Record{EventID: "big", Value: make([]byte, 200)}
	require.NoError(t, s.Append([]Record{big}))
	require.True(t, s.Room(50))
	require.False(t, s.Room(200))
	require.ErrorIs(t, s.Append([]Record{big}), ErrFull)
	require.Equal(t, 1, s.Stats().Records)
	segs, err := s.Seal()
	require.NoError(t, err)
	require.NoError(t, s.Remove(segs[0]))
	require.NoError(t, s.Append([]Record{big}), "room again once replayed")
	require.NoError(t, s.Close())
}

func TestSecondOpenOfADirFails(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.ErrorContains(t, err, "in use by another process")
	require.NoError(t, s.Close())
	s = open(t, dir, Options{})
	require.NoError(t, s.Close())
}

func TestConcurrentAppendsAndSeals(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 4096})
	var wg sync.WaitGroup
	const writers, each = 16, 60
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := w*each + i
				require.NoError(t, s.Append([]Record{rec(n)}))
			}
		}()
	}
	// A replayer sealing and draining at the same time.
	seen := map[string]int{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drain := func() {
		segs, err := s.Seal()
		require.NoError(t, err)
		for _, seg := range segs {
			recs, err := s.Read(seg)
			require.NoError(t, err)
			for _, r := range recs {
				seen[r.EventID]++
			}
			require.NoError(t, s.Remove(seg))
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Millisecond):
		}
		drain()
	}
	drain()
	require.Len(t, seen, writers*each)
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
	require.Equal(t, Stats{}, s.Stats())
	require.NoError(t, s.Close())
}

// TestKill9LosesNothingAcknowledged runs a child process that appends and
// prints each acknowledged record id, kills it with SIGKILL in the middle
// of its appends, and checks that every acknowledged record is read back.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if dir := os.Getenv("SPOOL_CHILD_DIR"); dir != "" {
		childAppends(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKill9LosesNothingAcknowledged$")
	cmd.Env = append(os.Environ(), "SPOOL_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 3000 {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked[id] = true
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	for sc.Scan() { // acknowledgements printed before the kill landed
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked[id] = true
		}
	}
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(acked), 3000)

	s := open(t, dir, Options{})
	got := map[string]bool{}
	for _, r := range readAll(t, s) {
		require.False(t, got[r.EventID], "%s read twice", r.EventID)
		got[r.EventID] = true
		require.True(t, strings.HasSuffix(string(r.Value), "|"+strings.TrimPrefix(r.EventID, "evt-")), "value of %s intact", r.EventID)
	}
	for id := range acked {
		require.True(t, got[id], "acknowledged %s lost", id)
	}
	require.NoError(t, s.Close())
}

func childAppends(dir string) {
	s, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				n := w*1_000_000 + i
				if err := s.Append([]Record{rec(n)}); err != nil {
					fmt.Println("append:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("acked evt-%d\n", n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
