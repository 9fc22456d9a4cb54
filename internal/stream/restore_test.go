package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A producer that dies mid-transaction and comes back with the same
// transactional id: the restored store holds the committed writes only.
func TestRestoreKeepsOnlyCommittedWrites(t *testing.T) {
	kcfg := testCluster(t, 1, "cl")
	topic := kcfg.TopicPrefix + "cl"
	ctx := context.Background()
	newTxn := func() *kgo.Client {
		cl, err := kgo.NewClient(append(kcfg.ProducerOpts("t"), kgo.TransactionalID(kcfg.TopicPrefix+"restore-test"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
		require.NoError(t, err)
		return cl
	}
	write := func(cl *kgo.Client, kv ...string) {
		for i := 0; i < len(kv); i += 2 {
			var v []byte
			if kv[i+1] != "" {
				v = []byte(kv[i+1])
			}
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(kv[i]), Value: v}).FirstErr())
		}
	}
	a := newTxn()
	require.NoError(t, a.BeginTransaction())
	write(a, "k1", "committed", "k2", "committed")
	require.NoError(t, a.EndTransaction(ctx, kgo.TryCommit))
	require.NoError(t, a.BeginTransaction())
	write(a, "k1", "aborted-by-death", "k3", "aborted-by-death")
	// a "dies": a new producer with the same transactional id fences it.
	b := newTxn()
	defer b.Close()
	require.NoError(t, b.BeginTransaction())
	write(b, "k2", "", "k4", "committed-later")
	require.NoError(t, b.EndTransaction(ctx, kgo.TryCommit))
	require.NoError(t, b.BeginTransaction())
	write(b, "k4", "still-open")
	a.Close()

	s := newStore("s", topic, 0)
	_, unresolved, err := restore(ctx, kcfg, s, time.Now().Add(300*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 1, unresolved, "b's open transaction, waited for, then treated as aborted")
	got := map[string]string{}
	s.Range(func(k string, v []byte) bool { got[k] = string(v); return true })
	require.Equal(t, map[string]string{"k1": "committed", "k4": "committed-later"}, got)

	// The previous owner ends its last batch while the new owner restores:
	// a transaction open at the end that commits within the wait is applied
	// (the input offsets it committed are where the new task starts).
	done := make(chan error, 1)
	s = newStore("s", topic, 0)
	go func() {
		_, unresolved, err := restore(ctx, kcfg, s, time.Now().Add(time.Minute))
		if err == nil && unresolved != 0 {
			err = fmt.Errorf("%d transactions unresolved", unresolved)
		}
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, b.EndTransaction(ctx, kgo.TryCommit))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("restore did not return after the open transaction committed")
	}
	got = map[string]string{}
	s.Range(func(k string, v []byte) bool { got[k] = string(v); return true })
	require.Equal(t, map[string]string{"k1": "committed", "k4": "still-open"}, got)
}
