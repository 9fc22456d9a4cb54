package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/linkedin/goavro/v2"
)

//go:embed avro/*.avsc
var avroFS embed.FS

// Kind names one of the contracts.
type Kind string

// The contracts between stages.
const (
	KindRaw        Kind = "raw_event"
	KindEnriched   Kind = "enriched_event"
	KindMembership Kind = "membership"
	KindFailed     Kind = "failed_event"
	KindCorrection Kind = "correction"
)

// Kinds lists every contract.
var Kinds = []Kind{KindRaw, KindEnriched, KindMembership, KindFailed, KindCorrection}

// Version is one version of one contract, its schema fully resolved (named
// types of other contracts inlined) so that it stands alone in a registry.
type Version struct {
	Kind    Kind
	Version int
	// EmbeddedID is the schema id this version has in the embedded registry.
	// IDs are assigned in manifest order and never change: new versions are
	// appended to the manifest.
	EmbeddedID int
	Schema     string
	Codec      *goavro.Codec
}

// manifest lists every version ever released, in release order. Append only.
var manifest = []struct {
	kind    Kind
	version int
}{
	{KindRaw, 1},
	{KindEnriched, 1},
	{KindMembership, 1},
	{KindFailed, 1},
	{KindCorrection, 1},
}

var (
	allVersions []*Version
	latest      = map[Kind]*Version{}
)

func init() {
	// goavro sizes a map or array by the block count a record claims before
	// reading its entries: a corrupt record under an older or foreign
	// schema id (the goavro path) could claim 2^31. No Sillage record has
	// a map or array of more than a few thousand entries.
	goavro.MaxBlockCount = 1 << 16
	for i, m := range manifest {
		v, err := loadVersion(m.kind, m.version, i+1)
		if err != nil {
			panic(err) // the embedded schemas are part of the binary; tests catch this
		}
		allVersions = append(allVersions, v)
		if cur := latest[m.kind]; cur == nil || cur.Version < v.Version {
			latest[m.kind] = v
		}
	}
}

// All returns every known version of every contract in manifest order.
func All() []*Version { return allVersions }

// Latest returns the newest version of a contract.
func Latest(k Kind) *Version { return latest[k] }

// Versions returns every version of one contract, oldest first.
func Versions(k Kind) []*Version {
	var out []*Version
	for _, v := range allVersions {
		if v.Kind == k {
			out = append(out, v)
		}
	}
	return out
}

func readSchema(kind Kind, version int) (string, error) {
	b, err := avroFS.ReadFile(fmt.Sprintf("avro/%s.v%d.avsc", kind, version))
	if err != nil {
		return "", fmt.Errorf("reading schema %s v%d: %w", kind, version, err)
	}
	return string(b), nil
}

// loadVersion reads a schema, inlines references to other contracts' named
// types (only "dev.sillage.RawEvent" is referenced today) and compiles it.
func loadVersion(kind Kind, version, id int) (*Version, error) {
	text, err := readSchema(kind, version)
	if err != nil {
		return nil, err
	}
	if strings.Contains(text, `"dev.sillage.RawEvent"`) && kind != KindRaw {
		raw, err := readSchema(KindRaw, latestManifestVersion(KindRaw, id))
		if err != nil {
			return nil, err
		}
		text = strings.Replace(text, `"dev.sillage.RawEvent"`, raw, 1)
	}
	var compact any
	if err := json.Unmarshal([]byte(text), &compact); err != nil {
		return nil, fmt.Errorf("schema %s v%d is not JSON: %w", kind, version, err)
	}
	canon, _ := json.Marshal(compact)
	codec, err := goavro.NewCodec(string(canon))
	if err != nil {
		return nil, fmt.Errorf("compiling schema %s v%d: %w", kind, version, err)
	}
	return &Version{Kind: kind, Version: version, EmbeddedID: id, Schema: string(canon), Codec: codec}, nil
}

// latestManifestVersion is the newest version of kind released before the
// manifest entry with the given id (1-based), so that a contract embedding
// another keeps the embedded version it was released with.
func latestManifestVersion(kind Kind, id int) int {
	best := 1
	for i := 0; i < id && i < len(manifest); i++ {
		if manifest[i].kind == kind && manifest[i].version > best {
			best = manifest[i].version
		}
	}
	return best
}
