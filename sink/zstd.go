package sink

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec is the lake's zstd: parquet-go's codec (klauspost/compress at
// its default level) with one option changed. Below its "better" level,
// klauspost/compress stores the literals of a block in which it finds no
// match as they are. A Parquet page of random ids is such a block: UUIDv4
// event ids, as Sillage's tag sends them and the collector assigns them
// when a client sends none. Entropy-coding those literals takes event_id
// from 30 to 19 bytes per row (BenchmarkWriteREES46: 76-80 → 68 bytes per
// row); the Huffman coding is about 3% of the write path's CPU profile.
// Ids with a common prefix (the replay's "rees46-…", analytics.js's
// "ajs-next-…") find matches and were compressed already. The output is
// standard zstd, read by any Parquet reader.
type zstdCodec struct {
	encoders sync.Pool // *zstd.Encoder
}

var lakeZstd = &zstdCodec{}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*zstd.Encoder)
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithAllLitEntropyCompression(true),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
		)
		if err != nil {
			return nil, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.encoders.Put(e)
	return out, nil
}

// Decode is parquet-go's: nothing differs in the format.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	return parquet.Zstd.Decode(dst, src)
}
