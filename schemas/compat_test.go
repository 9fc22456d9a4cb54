package schemas

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// backwardCompatible reports why a reader with schema newer cannot read data
// written with schema older (Avro schema resolution rules, the subset used
// here: records, enums, maps, primitives and named references).
func backwardCompatible(older, newer any, path string) error {
	switch n := newer.(type) {
	case string:
		o, ok := older.(string)
		if !ok {
			if om, ok := older.(map[string]any); ok && om["type"] == n && om["logicalType"] == nil {
				return nil
			}
			return fmt.Errorf("%s: type changed from %v to %s", path, older, n)
		}
		if o == n || promotable(o, n) {
			return nil
		}
		return fmt.Errorf("%s: type changed from %s to %s", path, o, n)
	case map[string]any:
		om, ok := older.(map[string]any)
		if !ok {
			if os, ok := older.(string); ok && n["type"] == os {
				return nil
			}
			return fmt.Errorf("%s: type changed from %v to %v", path, older, n["type"])
		}
		if om["type"] != n["type"] {
			return fmt.Errorf("%s: type changed from %v to %v", path, om["type"], n["type"])
		}
		switch n["type"] {
		case "record":
			ofields := map[string]map[string]any{}
			for _, f := range om["fields"].([]any) {
				fm := f.(map[string]any)
				ofields[fm["name"].(string)] = fm
			}
			for _, f := range n["fields"].([]any) {
				fm := f.(map[string]any)
				name := fm["name"].(string)
				of, ok := ofields[name]
				if !ok {
					if _, hasDefault := fm["default"]; !hasDefault {
						return fmt.Errorf("%s.%s: new field without a default", path, name)
					}
					continue
				}
				if err := backwardCompatible(of["type"], fm["type"], path+"."+name); err != nil {
					return err
				}
			}
		case "enum":
			nsyms := map[any]bool{}
			for _, s := range n["symbols"].([]any) {
				nsyms[s] = true
			}
			for _, s := range om["symbols"].([]any) {
				if !nsyms[s] && n["default"] == nil {
					return fmt.Errorf("%s: enum symbol %v removed without a default", path, s)
				}
			}
		case "map":
			return backwardCompatible(om["values"], n["values"], path+"{}")
		case "array":
			return backwardCompatible(om["items"], n["items"], path+"[]")
		}
		return nil
	case []any:
		return nil // unions: accepted as long as the names match; extend when unions are used
	}
	return fmt.Errorf("%s: unknown schema shape %T", path, newer)
}

func promotable(from, to string) bool {
	switch from {
	case "int":
		return to == "long" || to == "float" || to == "double"
	case "long":
		return to == "float" || to == "double"
	case "float":
		return to == "double"
	case "string":
		return to == "bytes"
	case "bytes":
		return to == "string"
	}
	return false
}

func parse(t *testing.T, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v
}

func TestEveryVersionIsBackwardCompatible(t *testing.T) {
	for _, kind := range Kinds {
		vs := Versions(kind)
		require.NotEmpty(t, vs, kind)
		for i := 1; i < len(vs); i++ {
			require.NoError(t, backwardCompatible(parse(t, vs[i-1].Schema), parse(t, vs[i].Schema), string(kind)),
				"%s v%d must read data written with v%d", kind, vs[i].Version, vs[i-1].Version)
		}
	}
}

func TestCompatibilityCheckerCatchesBreakingChanges(t *testing.T) {
	base := `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"n","type":"int"}]}`
	cases := map[string]struct {
		newer string
		ok    bool
	}{
		"field added with default":    {`{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"n","type":"int"},{"name":"b","type":"string","default":""}]}`, true},
		"field added without default": {`{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"n","type":"int"},{"name":"b","type":"string"}]}`, false},
		"int promoted to long":        {`{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"n","type":"long"}]}`, true},
		"string changed to int":       {`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"n","type":"int"}]}`, false},
		"field removed":               {`{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`, true},
	}
	for name, c := range cases {
		err := backwardCompatible(parse(t, base), parse(t, c.newer), "R")
		if c.ok {
			require.NoError(t, err, name)
		} else {
			require.Error(t, err, name)
		}
	}
}
