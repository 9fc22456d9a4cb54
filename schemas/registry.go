package schemas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// EmbeddedRegistry is the schema registry of the embedded default. It serves
// the Confluent REST API (mounted on the admin port) and is seeded at start
// with every known version of every contract under fixed ids, so that ids
// are the same across restarts and records written earlier still decode.
type EmbeddedRegistry struct {
	reg *srfake.Registry
}

// NewEmbeddedRegistry seeds a registry for the given topics.
func NewEmbeddedRegistry(topics map[Kind]string) *EmbeddedRegistry {
	reg := srfake.NewRegistry()
	kinds := make([]string, 0, len(topics))
	for k := range topics {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, v := range Versions(Kind(k)) {
			reg.SeedSchema(topics[Kind(k)]+"-value", v.Version, v.EmbeddedID, sr.Schema{Schema: v.Schema, Type: sr.TypeAvro})
		}
	}
	return &EmbeddedRegistry{reg: reg}
}

// Handler serves the registry's REST API.
func (r *EmbeddedRegistry) Handler() http.Handler { return r.reg.Handler() }

// Register implements Registry.
func (r *EmbeddedRegistry) Register(_ context.Context, subject, schema string) (int, error) {
	id, _, err := r.reg.RegisterSchema(subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("registering under %s: %w", subject, err)
	}
	return id, nil
}

// SchemaByID implements Registry.
func (r *EmbeddedRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	for _, v := range allVersions {
		if v.EmbeddedID == id {
			return v.Schema, nil
		}
	}
	return "", fmt.Errorf("schema id %d is not one of Sillage's: %w", id, ErrUnknownSchema)
}

// RemoteRegistry talks to a Confluent-compatible registry over HTTP
// (Confluent, Karapace, Apicurio, Redpanda…).
type RemoteRegistry struct {
	cl *sr.Client
}

// NewRemoteRegistry returns a client for the registry at url.
func NewRemoteRegistry(url string, opts ...sr.ClientOpt) (*RemoteRegistry, error) {
	cl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(url)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client for %s: %w", url, err)
	}
	return &RemoteRegistry{cl: cl}, nil
}

// Register implements Registry.
func (r *RemoteRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, err
	}
	return ss.ID, nil
}

// SchemaByID implements Registry.
func (r *RemoteRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return "", fmt.Errorf("%w: %w", ErrUnknownSchema, err)
		}
		return "", err
	}
	return s.Schema, nil
}
