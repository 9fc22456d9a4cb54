package stream

import (
	"context"
	"testing"

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
	_, err := restore(ctx, kcfg, s)
	require.NoError(t, err)
	got := map[string]string{}
	s.Range(func(k string, v []byte) bool { got[k] = string(v); return true })
	require.Equal(t, map[string]string{"k1": "committed", "k4": "committed-later"}, got)
}
