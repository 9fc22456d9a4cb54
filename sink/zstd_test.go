package sink

import (
	"testing"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// A page of random UUIDs finds no match: its literals must still be
// entropy-coded (about 18.6 bytes per 36-byte id), and the result must be
// standard zstd.
func TestZstdCodecCodesLiteralsOfRandomIDs(t *testing.T) {
	var page []byte
	for range 2000 { // 72 KB, a small page
		page = append(page, uuid.NewString()...)
	}
	c, err := codec("zstd")
	require.NoError(t, err)
	out, err := c.Encode(nil, page)
	require.NoError(t, err)
	require.Less(t, len(out), 20*2000, "%.1f bytes per id", float64(len(out))/2000)

	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	back, err := dec.DecodeAll(out, nil)
	require.NoError(t, err)
	require.Equal(t, page, back)
	back, err = c.Decode(nil, out)
	require.NoError(t, err)
	require.Equal(t, page, back)
}
