package workflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

func journeyYAML(url string) string {
	return `
workflows:
  - name: journey
    trigger: {segment: cart_abandoned}
    actions:
      - branch:
          if: 'traits.vip == "true"'
          then:
            - webhook: {url: "` + url + `/vip", secret: s}
          else:
            - webhook: {url: "` + url + `/regular", secret: s}
      - wait_for: {segment: purchased, timeout: 1500ms}
      - branch:
          if: arrived
          then: [{webhook: {url: "` + url + `/thanks", secret: s}}]
          else: [{webhook: {url: "` + url + `/reminder", secret: s}}]
`
}

func TestParseBranches(t *testing.T) {
	defs, err := segmenter.ParseDefinitions([]byte(waitSegments + journeyYAML("http://h")))
	require.NoError(t, err)
	wfs, err := Parse(defs)
	require.NoError(t, err)
	var kinds []string
	for _, a := range wfs[0].Actions {
		kinds = append(kinds, a.Kind())
	}
	require.Equal(t, []string{"branch", "webhook", "goto", "webhook", "wait_for", "branch", "webhook", "goto", "webhook"}, kinds,
		"flattened: a branch jumps to its else list, its then list jumps past it")
	a := wfs[0].Actions
	require.Equal(t, 3, a[0].Branch.Else)
	require.Equal(t, 4, a[2].Goto)
	require.Equal(t, &Trigger{Segment: "purchased", On: schemas.Entered}, a[4].WaitFor)
	require.Equal(t, 1500*time.Millisecond, a[4].Wait)
	require.Equal(t, 8, a[5].Branch.Else)
	require.Equal(t, 9, a[7].Goto, "to the end")
	require.True(t, NeedsContacts(wfs), "branches read traits")
	require.True(t, NeedsRuns(wfs))

	defs, err = segmenter.ParseDefinitions([]byte(waitSegments + `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions:
      - branch:
          if: traits.vip
          then:
            - branch: {if: nope == 1, then: [{webhook: {url: "ftp://x", secret: s}}]}
      - branch: {if: "true"}
      - wait_for: {segment: nope, on: left}
`))
	require.NoError(t, err)
	_, err = Parse(defs)
	require.Error(t, err)
	for _, want := range []string{
		`workflow "w": actions[0].branch.if: must be a boolean expression, is string`,
		`workflow "w": actions[0].branch.then[0].branch.if: ERROR: <input>:1:1: undeclared reference to 'nope'`,
		`workflow "w": actions[0].branch.then[0].branch.then[0].webhook.url: "ftp://x" is not an absolute http(s) URL`,
		`workflow "w": actions[1].branch: then or else needs at least one action`,
		`workflow "w": actions[2].wait_for.segment: no segment "nope" is defined`,
		`workflow "w": actions[2].wait_for.on: "left", want entered or exited`,
		`workflow "w": actions[2].wait_for.timeout: 0s, want > 0`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

// TestBranchAndWaitFor: a branch on a trait (a missing trait is an
// evaluation error, taken as else), then a wait for a purchase: ann buys
// during the wait (thanks), bob does not (a reminder at the timeout).
func TestBranchAndWaitFor(t *testing.T) {
	e := newMailEnv(t)
	srv := newHookServer(t)
	e.identify(t, "ann", `{"vip":"true"}`, marketing)
	e.identify(t, "bob", `{"first_name":"Bob"}`, marketing)
	reg, stop := e.run(t, journeyYAML(srv.URL), nil)
	e.transition(t, sampleTransition("t-ann", "ann", true), sampleTransition("t-bob", "bob", true))
	require.Eventually(t, func() bool { return len(srv.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	buys := sampleTransition("t-ann-p", "ann", true)
	buys.Segment = "purchased"
	e.transition(t, buys)
	require.Eventually(t, func() bool { return len(srv.received()) == 4 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	stop()
	got := map[string]string{}
	for _, r := range srv.received() {
		got[r.path] = r.header.Get(IdempotencyKeyHeader) + "#" + r.header.Get(ActionHeader)
	}
	require.Equal(t, map[string]string{"/vip": "t-ann#1", "/regular": "t-bob#3", "/thanks": "t-ann#6", "/reminder": "t-bob#8"}, got,
		"the same key for a run's webhooks, told apart by the action index")
	require.Equal(t, 2.0, counter(t, reg, "sillage_workflow_branches_total", map[string]string{"outcome": "then"}))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_branches_total", map[string]string{"outcome": "else"}))
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_branches_total", map[string]string{"outcome": "error"}), "bob has no vip trait")
	require.Equal(t, 0.0, counter(t, reg, "sillage_workflow_waiting", nil))
}
