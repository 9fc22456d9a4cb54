package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Batch manifests make file names reproducible. Before the files of a batch
// are written, a manifest naming the batch's offset range is stored under
// _sillage/manifests/<topic>/p<partition>/<first>-<last>.json. A task that
// restarts from a committed offset inside or before a manifest's range cuts
// its batches at exactly the recorded boundaries, so the records are written
// again to the same file names (overwriting them) whatever the wall-clock
// timing of the previous run was. Manifests below the committed offset are
// garbage.
const manifestRoot = "_sillage/manifests"

type manifest struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	FirstOffset int64        `json:"first_offset"`
	LastOffset  int64        `json:"last_offset"`
	Rows        int          `json:"rows"`
	Files       []sealedFile `json:"files"`
	WrittenAt   time.Time    `json:"written_at"`
}

// manifestRef is a manifest known by name.
type manifestRef struct {
	key         string
	first, last int64
	written     time.Time
}

func manifestPrefix(topic string, partition int32) string {
	return manifestRoot + "/" + topic + "/p" + strconv.Itoa(int(partition)) + "/"
}

func manifestKey(topic string, partition int32, first, last int64) string {
	return manifestPrefix(topic, partition) + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + ".json"
}

func encodeManifest(m manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return b, nil
}

func decodeManifest(data []byte) (manifest, error) {
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("decoding manifest: %w", err)
	}
	return m, nil
}

// listManifests returns the manifests of a topic partition sorted by first
// offset. Names that do not parse are reported, not fatal.
func listManifests(ctx context.Context, store ObjectStore, topic string, partition int32) (refs []manifestRef, bad []string, err error) {
	prefix := manifestPrefix(topic, partition)
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("listing manifests of %s[%d]: %w", topic, partition, err)
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, prefix)
		first, last, ok := parseRange(strings.TrimSuffix(name, ".json"))
		if !ok || !strings.HasSuffix(name, ".json") || strings.Contains(name, "/") {
			bad = append(bad, o.Key)
			continue
		}
		refs = append(refs, manifestRef{key: o.Key, first: first, last: last, written: o.ModTime})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].first < refs[j].first })
	return refs, bad, nil
}

func parseRange(s string) (first, last int64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}
