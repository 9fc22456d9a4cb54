package collector

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestConsentCategoriesInCanonicalOrder(t *testing.T) {
	require.Equal(t, schemas.ConsentCategories, categories[:])
}

// Bodies fastjson alone gets wrong, and what the decoder does about them.
func TestDecodeRefusesWhatFastjsonLetsThrough(t *testing.T) {
	deep := `{"event":"x","userId":"u","properties":{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}`
	tests := []struct {
		name, body, detail string
	}{
		// fastjson v1.6.10's validator checks a string's control characters
		// only after its last escape.
		{"control character before an escape", "{\"event\":\"a\x01\\n\",\"userId\":\"u\"}", "invalid character '\\x01' in string literal"},
		{"control character in a key before an escape", "{\"a\x1f\\t\":1,\"event\":\"x\",\"userId\":\"u\"}", "in string literal"},
		{"number the parser would take", `{"event":"x","userId":"u","properties":{"a":1.}}`, "not valid JSON"},
		{"unknown escape", `{"event":"x\q","userId":"u"}`, "not valid JSON"},
		{"NaN", `{"event":"x","userId":"u","properties":{"a":NaN}}`, "not valid JSON"},
		// encoding/json allowed 10,000 levels; fastjson stops at 300.
		{"nested deeper than 300", deep, "too big depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeBody("track", []byte(tt.body), 32*1024)
			require.NotNil(t, err)
			require.Equal(t, 400, err.status)
			require.Equal(t, reasonMalformedJSON, err.reason)
			require.Contains(t, err.detail, tt.detail)
		})
	}
}

// An event of a batch is measured by its compact JSON: whitespace between
// tokens does not count, whitespace in strings does.
func TestBatchEventSizeIsCompactSize(t *testing.T) {
	ev := `{"type":"track","event":"x","userId":"u","properties":{"pad":"` + strings.Repeat(" ", 150) + `"}}`
	n := len(ev)
	indented := strings.NewReplacer(`,"`, ",\n    \"", `{`, "{\n    ").Replace(ev)
	require.Greater(t, len(indented), n+20)
	for _, tt := range []struct {
		name, event string
		limit       int
		detail      string
	}{
		{"compact, within", ev, n, ""},
		{"indented, compact size within", indented, n, ""},
		{"compact, over", ev, n - 1, fmt.Sprintf("batch[0] is %d bytes, the limit is %d", n, n-1)},
		{"indented, over", indented, n - 1, fmt.Sprintf("batch[0] is %d bytes, the limit is %d", n, n-1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := decodeBody("batch", []byte(`{"batch":[`+tt.event+`]}`), tt.limit)
			if tt.detail == "" {
				require.Nil(t, err)
				require.Len(t, env.events, 1)
				return
			}
			require.NotNil(t, err)
			require.Equal(t, reasonEventTooLarge, err.reason)
			require.Equal(t, tt.detail, err.detail)
		})
	}
}

// The strings of decoded events do not share memory with the body or the
// pooled parser: decoding another body leaves them as they were.
func TestDecodedStringsOutliveTheParser(t *testing.T) {
	meta := &requestMeta{source: "web", receivedAt: testReceived}
	env, aerr := decodeBody("track", []byte(trackBody), 32*1024)
	require.Nil(t, aerr)
	ev, aerr := toRaw(&env.events[0], -1, env, meta)
	require.Nil(t, aerr)
	before := ev
	body := []byte(strings.NewReplacer("Product Added", "Another Event", "fr-FR", "de-DE").Replace(trackBody))
	for range 100 {
		_, aerr = decodeBody("track", body, 32*1024)
		require.Nil(t, aerr)
	}
	require.Equal(t, before, ev)
	require.Equal(t, "Product Added", ev.Event)
	require.Equal(t, "fr-FR", ev.Locale)
}
