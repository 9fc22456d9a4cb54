package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// flakyRegistry registers fine but fails schema look-ups with err.
type flakyRegistry struct {
	*schemas.EmbeddedRegistry
	err     error
	lookups atomic.Int32
}

func (r *flakyRegistry) SchemaByID(context.Context, int) (string, error) {
	r.lookups.Add(1)
	return "", r.err
}

func TestDecodeErrorsOutsideTheRecord(t *testing.T) {
	unknownID := []byte{0, 0, 0, 3, 0xE7, 1, 2}
	cases := []struct {
		name      string
		err       error
		transient bool
	}{
		{"registry unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"registry failing", &sr.ResponseError{StatusCode: 503, Message: "unavailable"}, true},
		{"schema not found", fmt.Errorf("%w: %w", schemas.ErrUnknownSchema, &sr.ResponseError{StatusCode: 404, ErrorCode: 40403, Message: "Schema not found"}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topics := kindTopics(testTopics)
			reg := &flakyRegistry{EmbeddedRegistry: schemas.NewEmbeddedRegistry(topics), err: c.err}
			serde, err := schemas.NewSerde(context.Background(), reg, topics)
			require.NoError(t, err)
			dir := t.TempDir()
			store, err := NewLocalStore(dir)
			require.NoError(t, err)
			e := newEnvOn(t, dir, store, serde, func(c *Config) { c.WriteRetries = 1 })
			tk := e.task(testTopics.Enriched, 0)
			err = tk.Process(context.Background(), rec(testTopics.Enriched, 0, 0, unknownID), &stream.Output{})
			if c.transient {
				require.Error(t, err)
				require.Contains(t, err.Error(), "decoding sillage.events.enriched[0]@0")
				require.Equal(t, int32(2), reg.lookups.Load(), "one retry")
				require.Zero(t, tk.cur.rows, "nothing buffered: the record is read again after restart")
				return
			}
			require.NoError(t, err)
			require.NoError(t, tk.Flush(context.Background()))
			failed, err := ReadTable[FailedRow](context.Background(), e.store, TableFailed)
			require.NoError(t, err)
			require.Len(t, failed, 1)
			require.Contains(t, failed[0].Detail, "Schema not found")
		})
	}
}

func TestDecodeStopsWhenContextEnds(t *testing.T) {
	topics := kindTopics(testTopics)
	reg := &flakyRegistry{EmbeddedRegistry: schemas.NewEmbeddedRegistry(topics), err: &net.OpError{Op: "dial", Err: errors.New("refused")}}
	serde, err := schemas.NewSerde(context.Background(), reg, topics)
	require.NoError(t, err)
	dir := t.TempDir()
	store, err := NewLocalStore(dir)
	require.NoError(t, err)
	e := newEnvOn(t, dir, store, serde, func(c *Config) { c.WriteRetries = 100 })
	tk := e.task(testTopics.Enriched, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = tk.Process(ctx, rec(testTopics.Enriched, 0, 0, []byte{0, 0, 0, 3, 0xE7, 1}), &stream.Output{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
