package app

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
)

func TestEveryContractHasATopic(t *testing.T) {
	kcfg := kafka.DefaultConfig()
	kt := schemaTopics(kcfg.Topics())
	specs := map[string]bool{}
	for _, s := range kcfg.Specs() {
		specs[s.Name] = true
	}
	seen := map[string]schemas.Kind{}
	for _, k := range schemas.Kinds {
		topic := kt[k]
		require.NotEmpty(t, topic, "contract %s has no topic", k)
		require.True(t, specs[topic], "topic %s of %s is not created by Specs()", topic, k)
		prev, dup := seen[topic]
		require.False(t, dup, "%s and %s share topic %s", prev, k, topic)
		seen[topic] = k
	}
	require.Len(t, kt, len(schemas.Kinds), "no topic for a contract that does not exist")
	require.Equal(t, "sillage.events.corrections", kt[schemas.KindCorrection])
}

// TestEmbeddedRegistryServesEveryTopic checks what kcat -s value=avro does:
// the id in a record's header is the one the registry serves for the
// topic's subject, and the schema behind it is the contract's.
func TestEmbeddedRegistryServesEveryTopic(t *testing.T) {
	kt := schemaTopics(kafka.DefaultConfig().Topics())
	reg := schemas.NewEmbeddedRegistry(kt)
	serde, err := schemas.NewSerde(context.Background(), reg, kt)
	require.NoError(t, err)
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	get := func(path string, into any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	}
	for _, k := range schemas.Kinds {
		var latest struct {
			ID     int    `json:"id"`
			Schema string `json:"schema"`
		}
		get("/subjects/"+kt[k]+"-value/versions/latest", &latest)
		require.Equal(t, schemas.Latest(k).EmbeddedID, latest.ID, k)
		require.JSONEq(t, schemas.Latest(k).Schema, latest.Schema, k)
		require.Equal(t, latest.ID, serde.SchemaID(k), "%s records carry the id the registry serves", k)
	}

	c := &schemas.Correction{
		ID: schemas.CorrectionID(schemas.ProfilesMerged.String(), "anon-1", "user-1", "m-1"), Kind: schemas.ProfilesMerged,
		ProfileID: "user-1", From: "anon-1", Into: "user-1", VisitorID: "anon-1", CauseEventID: "m-1", Source: "web",
		EventTime: 1714035600000, CorrectedAt: 1714035600100,
	}
	b, err := serde.Encode(schemas.KindCorrection, c, nil)
	require.NoError(t, err)
	var byID struct {
		Schema string `json:"schema"`
	}
	get("/schemas/ids/"+strconv.Itoa(int(binary.BigEndian.Uint32(b[1:5]))), &byID)
	require.JSONEq(t, schemas.Latest(schemas.KindCorrection).Schema, byID.Schema)
	got, err := serde.DecodeCorrection(context.Background(), b)
	require.NoError(t, err)
	require.Equal(t, c, got)
}
