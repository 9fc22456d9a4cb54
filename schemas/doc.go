// Package schemas owns the Avro contracts between Sillage's stages: the raw
// event, the enriched event, the segment membership transition, the failed
// event and the correction (two profiles or two sessions the enricher
// merged). It holds every version of each schema (avro/*.vN.avsc), their Go
// types with conversions to and from goavro's native form, and the Confluent
// wire format (magic byte, 4-byte schema id, Avro binary).
//
// Records of the latest version of each contract are written and read by a
// direct codec (direct.go) that goes straight between the Go types and the
// Avro binary encoding, byte for byte what goavro writes (map entries sorted
// by key, which goavro leaves in Go's random order); tests cross-check the two
// on generated and fuzzed values. goavro stays the schema authority: it
// compiles every schema, and Serde falls back to it for any other schema id
// (older versions, other writers). Decoded strings never alias the input.
//
// Guarantees: every version of a schema is backward compatible with the one
// before it (checked by tests); decoding a record written with any known
// version yields a fully populated Go value, missing fields taking their
// defaults. Decoding fails with an error naming the problem (bad magic byte,
// unknown schema id, truncated body), never with a panic.
package schemas
