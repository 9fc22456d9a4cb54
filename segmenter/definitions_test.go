package segmenter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadDefinitionsDefault(t *testing.T) {
	d, err := LoadDefinitions("")
	require.NoError(t, err)
	require.Equal(t, "embedded default", d.Source)
	require.Len(t, d.Segments, 2)
	signed, ok := d.Segment("signed_up")
	require.True(t, ok)
	require.Equal(t, "event", signed.Kind())
	cart, ok := d.Segment("cart_abandoned")
	require.True(t, ok)
	require.Equal(t, "absence", cart.Kind())
	require.Equal(t, (30 * time.Minute).Milliseconds(), cart.rule.(*absenceRule).within)
	require.True(t, d.needs.traits, "signed_up reads event.traits")
	require.False(t, d.needs.properties)
}

func TestLoadDefinitionsGood(t *testing.T) {
	d, err := LoadDefinitions(filepath.Join("testdata", "good.yaml"))
	require.NoError(t, err)
	require.Len(t, d.Segments, 3)
	require.True(t, d.needs.properties)
	require.False(t, d.needs.traits)
	// "Order Completed" predicates differ in text, so none is shared here;
	// identical expressions compile once.
	require.Len(t, d.preds, 5)
	require.Equal(t, "remind", d.Workflows.Content[0].Content[1].Value)
}

func TestLoadDefinitionsSharesPredicates(t *testing.T) {
	d, err := ParseDefinitions([]byte(`
segments:
  - name: a
    event: {enter: 'event.name == "X"'}
  - name: b
    event: {enter: 'event.name == "X"', exit: 'event.name == "Y"'}
`))
	require.NoError(t, err)
	require.Len(t, d.preds, 2)
}

func TestLoadDefinitionsBad(t *testing.T) {
	cases := map[string][]string{
		"unknown_field.bad.yaml":     {"parsing YAML", "field withn not found"},
		"cel_syntax.bad.yaml":        {`segment "signed_up": event.enter: ERROR: <input>:1:`, "Syntax error"},
		"cel_unknown_field.bad.yaml": {`segment "signed_up": event.enter:`, "undefined field 'nmae'"},
		"cel_not_bool.bad.yaml":      {`segment "signed_up": event.enter: must be a boolean expression, is string`},
		"absence_incomplete.bad.yaml": {
			`segment "cart_abandoned": absence.start: required`,
			`segment "cart_abandoned": absence.within: -5m0s, want a positive duration`,
		},
		"two_kinds.bad.yaml": {`segment "both": exactly one kind (event, absence, window, sequence, in_segments) must be given, found 2`},
		"names.bad.yaml": {
			`segment "Cart Abandoned": name: "Cart Abandoned" must be lower-case`,
			`segment "dup": name: defined twice`,
			`segments[3]: name: required`,
		},
		"empty.bad.yaml":           {"segments: none defined"},
		"same_predicates.bad.yaml": {`segment "pointless": absence.missing: the same expression as absence.start`},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	require.NoError(t, err)
	require.Len(t, files, len(cases), "every bad fixture has expected errors")
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			_, err := LoadDefinitions(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), path)
			for _, w := range wants {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadDefinitionsMissingFile(t *testing.T) {
	_, err := LoadDefinitions(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "reading segment definitions")
}

// TestREADMEExampleLoads keeps the README's definitions example valid.
func TestREADMEExampleLoads(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### Segments and workflows")
	require.True(t, ok)
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	d, err := ParseDefinitions([]byte(block))
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, s := range d.Segments {
		kinds[s.Kind()] = true
	}
	require.Equal(t, map[string]bool{"event": true, "absence": true, "window": true, "sequence": true, "in_segments": true}, kinds)
}

func TestBenchDefinitionsAreTwentyMixed(t *testing.T) {
	d, err := LoadDefinitions(filepath.Join("testdata", "bench20.yaml"))
	require.NoError(t, err)
	require.Len(t, d.Segments, 20)
	kinds := map[string]int{}
	for _, s := range d.Segments {
		kinds[s.Kind()]++
	}
	require.Equal(t, map[string]int{"event": 5, "absence": 4, "window": 5, "sequence": 3, "in_segments": 3}, kinds)
	require.Len(t, d.computed, 3)
}
