package workflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

const segmentsYAML = `
segments:
  - name: cart_abandoned
    absence:
      start: event.name == "Product Added"
      missing: event.name == "Order Completed"
      within: 30m
`

func parse(tb testing.TB, workflows string) ([]*Workflow, error) {
	tb.Helper()
	defs, err := segmenter.ParseDefinitions([]byte(segmentsYAML + workflows))
	require.NoError(tb, err)
	return Parse(defs)
}

func TestParseWorkflows(t *testing.T) {
	t.Setenv("HOOK_SECRET", "from-env")
	wfs, err := parse(t, `
workflows:
  - name: remind
    trigger: {segment: cart_abandoned, on: entered}
    actions:
      - webhook: {url: "https://hooks.example/cart", secret_env: HOOK_SECRET}
  - name: stop
    trigger: {segment: cart_abandoned, on: exited}
    actions:
      - webhook: {url: "http://127.0.0.1:9/x", secret: s, timeout: 2s, max_attempts: 2, consent: analytics}
`)
	require.NoError(t, err)
	require.Len(t, wfs, 2)
	require.Equal(t, schemas.Entered, wfs[0].On)
	w := wfs[0].Actions[0].Webhook
	require.Equal(t, []byte("from-env"), w.Secret)
	require.Equal(t, 10*time.Second, w.Timeout, "default")
	require.Equal(t, 5, w.MaxAttempts, "default")
	require.Equal(t, "marketing", w.Consent, "default")
	require.Equal(t, schemas.Exited, wfs[1].On)
	require.Equal(t, 2, wfs[1].Actions[0].Webhook.MaxAttempts)
	require.Equal(t, "analytics", wfs[1].Actions[0].Webhook.Consent)

	none, err := parse(t, "")
	require.NoError(t, err)
	require.Empty(t, none)
	def, err := segmenter.LoadDefinitions("")
	require.NoError(t, err)
	none, err = Parse(def)
	require.NoError(t, err)
	require.Empty(t, none, "the demo defines no workflow")
}

func TestParseWorkflowsBad(t *testing.T) {
	cases := map[string]struct {
		yaml  string
		wants []string
	}{
		"unknown field": {`
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions: [{webhook: {url: "http://h/x", secret: s, retries: 3}}]
`, []string{"workflows: parsing YAML", "field retries not found"}},
		"trigger": {`
workflows:
  - name: w
    trigger: {segment: nope, on: left}
    actions: [{webhook: {url: "http://h/x", secret: s}}]
`, []string{`workflow "w": trigger.segment: no segment "nope" is defined`, `workflow "w": trigger.on: "left", want entered or exited`}},
		"actions": {`
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
  - name: w
    trigger: {segment: cart_abandoned}
    actions: [{}]
  - trigger: {}
    actions: [{webhook: {url: "http://h/x", secret: s}}]
`, []string{`workflow "w": actions: at least one is required`, `workflow "w": name: defined twice`,
			`workflow "w": actions[0]: no action kind given (wait, wait_for, branch, webhook, email, emit or set_traits)`, `workflows[2]: name: required`, `workflows[2]: trigger.segment: required`}},
		"webhook": {`
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions:
      - webhook: {url: "ftp://h/x", timeout: -1s, max_attempts: 99, consent: everything}
      - webhook: {url: "/relative", secret_env: SILLAGE_TEST_UNSET_VAR}
      - webhook: {url: "http://h/x", secret: a, secret_env: B}
`, []string{
			`workflow "w": actions[0].webhook.url: "ftp://h/x" is not an absolute http(s) URL`,
			`actions[0].webhook.secret: required (or secret_env)`,
			`actions[0].webhook.timeout: -1s, want > 0`,
			`actions[0].webhook.max_attempts: 99, want 1 to 50`,
			`actions[0].webhook.consent: "everything", want one of`,
			`actions[1].webhook.url: "/relative"`,
			`actions[1].webhook.secret_env: environment variable SILLAGE_TEST_UNSET_VAR is not set`,
			`actions[2].webhook.secret: give secret or secret_env, not both`,
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parse(t, c.yaml)
			require.Error(t, err)
			for _, w := range c.wants {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
