//go:build integration

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/testmailpit"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter/workflow"
)

// TestCartAbandonmentEmail is the demo's cart-abandonment journey end to
// end: the sillage binary against real Apache Kafka and a real SMTP server
// (mailpit), with an absence window of 3 seconds.
//
//   - add to cart, wait: exactly one e-mail, to the address the visitor
//     gave, with the stable Message-ID of its transition;
//   - add to cart, buy within the wait: no e-mail (no entry at all);
//   - add to cart, withdraw marketing consent during the wait: no e-mail
//     (the entry happens, the action refuses it);
//   - add to cart, SIGKILL the process during the wait, restart it:
//     exactly one e-mail, and none of the earlier ones again.
//
// A second workflow waits 15s after the entry and sends a follow-up: ann's
// wait spans the SIGKILL (one follow-up after the restart); dee buys after
// her reminder, during her wait, so her follow-up never comes (the exit
// rule applies mid-wait); cyd's follow-up is refused for consent.
//
// The workflow also emits "Cart Reminder Sent" and sets a trait (an
// identify): each arrives on the enriched topic once per reminder, for the
// visitor's own profile.
func TestCartAbandonmentEmail(t *testing.T) {
	brokers := realBrokers(t)
	mp := testmailpit.Start(t)
	id := randomID(t)
	prefix := "sillage.e2e" + id + "."
	defs := filepath.Join(t.TempDir(), "segments.yaml")
	require.NoError(t, os.WriteFile(defs, []byte(fmt.Sprintf(`
segments:
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 3s
workflows:
  - name: cart_reminder
    trigger: {segment: cart_abandoned, on: entered}
    actions:
      - email:
          smtp: {host: 127.0.0.1, port: %d, tls: none, timeout: 5s}
          from: "Sillage Shop <shop@shop.example>"
          subject: "{{.Traits.first_name}}, your cart is waiting"
          text: "Hello {{.Traits.first_name}}, you left something in your cart."
          html: "<p>Hello {{.Traits.first_name}}, you left something in your cart.</p>"
      - emit: {event: Cart Reminder Sent, properties: {channel: email}, consent: marketing}
      - set_traits: {traits: {cart_reminded: true}, consent: marketing}
  - name: cart_followup
    trigger: {segment: cart_abandoned, on: entered}
    actions:
      - wait: 15s
      - email:
          smtp: {host: 127.0.0.1, port: %d, tls: none, timeout: 5s}
          from: "Sillage Shop <shop@shop.example>"
          subject: "Still thinking about it, {{.Traits.first_name}}?"
          text: "Your cart is still there."
`, mp.SMTPPort, mp.SMTPPort)), 0o644))

	dataDir := t.TempDir()
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	const writeKey = "e2e-write-key-mail"
	token := "e2e-admin-token-" + id
	args := []string{
		"-kafka.brokers", strings.Join(brokers, ","), "-kafka.topic-prefix", prefix, "-kafka.partitions", "2",
		"-kafka.replication-factor", "1", "-instance.id", "e2e-mail-" + id, "-data.dir", dataDir,
		"-collector.source", "e2e:" + writeKey + ":*", "-admin.token", token,
		"-segmenter.definitions", defs, "-segmenter.idle-timeout", "1s", "-segmenter.allowed-lateness", "0s",
		"-segmenter.quiet-period", "1s", "-workflow.backoff-base", "100ms", "-workflow.backoff-max", "1s",
	}
	p := startSillage(t, collectorAddr, adminAddr, args...)

	base := "http://" + collectorAddr
	consent := func(marketing bool) string {
		return fmt.Sprintf(`"context":{"consent":{"categoryPreferences":{"analytics":true,"personalisation":true,"marketing":%t}}}`, marketing)
	}
	n := 0
	send := func(path, body string) {
		t.Helper()
		n++
		code, resp := post(t, base+path, writeKey, body)
		require.Equal(t, 200, code, resp)
	}
	user := func(name string) string { return name + "-" + id }
	email := func(name string) string { return name + "-" + id + "@example.com" }
	visit := func(name string) {
		send("/v1/identify", fmt.Sprintf(`{"messageId":"m-%s-%d","userId":%q,"traits":{"email":%q,"first_name":%q},%s}`,
			id, n, user(name), email(name), strings.ToUpper(name[:1])+name[1:], consent(true)))
		send("/v1/track", fmt.Sprintf(`{"messageId":"m-%s-%d","userId":%q,"event":"Product Added","properties":{"sku":"X-1"},%s}`,
			id, n, user(name), consent(true)))
	}

	// Phase 1: three visitors in one process.
	visit("ann")
	visit("bob")
	visit("cyd")
	send("/v1/track", fmt.Sprintf(`{"messageId":"m-%s-%d","userId":%q,"event":"Order Completed","properties":{"total":12},%s}`,
		id, n, user("bob"), consent(true)))
	send("/v1/track", fmt.Sprintf(`{"messageId":"m-%s-%d","userId":%q,"event":"Consent Updated",%s}`,
		id, n, user("cyd"), consent(false)))

	require.Eventually(t, func() bool { return len(mp.To(t, email("ann"))) == 1 }, 60*time.Second, 200*time.Millisecond,
		"ann's reminder")
	require.Equal(t, "Ann, your cart is waiting", mp.To(t, email("ann"))[0].Subject, "not the follow-up yet")
	// cyd entered too (her transition carries her withdrawal): the action
	// counted it as refused.
	require.Eventually(t, func() bool {
		return metric(t, adminAddr, token, `sillage_workflow_actions_total{action="email",outcome="no_consent"}`) == "1"
	}, 30*time.Second, 200*time.Millisecond)
	all, members := memberships(t, brokers, prefix)
	require.Equal(t, map[string]bool{user("ann"): true, user("cyd"): true}, members["cart_abandoned"],
		"bob bought within the wait: no entry")
	entry := map[string]*schemas.MembershipTransition{}
	for _, tr := range all {
		entry[tr.ProfileID] = tr
	}
	require.False(t, entry[user("cyd")].Consent.Marketing)

	msg := mp.To(t, email("ann"))[0]
	require.Equal(t, "Ann, your cart is waiting", msg.Subject)
	require.Equal(t, "shop@shop.example", msg.From.Address)
	require.Contains(t, msg.Text, "Hello Ann, you left something in your cart.")
	require.Contains(t, msg.HTML, "<p>Hello Ann,")
	require.Equal(t, workflow.MessageID(entry[user("ann")].ID, "cart_reminder", 0, "shop.example"), msg.MessageID)

	// Phase 2: dee adds to cart, the process is killed during her wait and
	// started again on the same data.
	visit("dee")
	time.Sleep(500 * time.Millisecond)
	p.kill()
	killedAt := time.Now()
	p = startSillage(t, collectorAddr, adminAddr, args...)
	t.Logf("restarted %s after the SIGKILL", time.Since(killedAt).Round(time.Millisecond))
	// The shop stays live: another visitor browses while dee's window runs
	// out. (The segmenter advances event time by the wall clock only for a
	// live input, and after a restart it knows the input is live only once
	// a new event arrives: without traffic, a timer restored from the
	// changelog waits for the next event.)
	stopTraffic := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		for i := 0; ; i++ {
			select {
			case <-stopTraffic:
				return
			case <-time.After(500 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/page", strings.NewReader(fmt.Sprintf(
				`{"messageId":"m-%s-eve-%d","anonymousId":"eve-%s","name":"Home",%s}`, id, i, id, consent(true))))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", browserUA)
			req.SetBasicAuth(writeKey, "")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	defer func() {
		select {
		case <-stopTraffic:
		default:
			close(stopTraffic)
		}
		<-trafficDone
	}()
	// The killed process's consumer group members hold their partitions
	// until Kafka's session timeout (45s) expires: most of this wait.
	if !assert.Eventually(t, func() bool { return len(mp.To(t, email("dee"))) == 1 }, 120*time.Second, 200*time.Millisecond,
		"dee's reminder after the restart") {
		_, body := getWithToken(t, "http://"+adminAddr+"/metrics", token)
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "sillage_segmenter") || strings.HasPrefix(l, "sillage_workflow") {
				t.Log(l)
			}
		}
		t.FailNow()
	}
	t.Logf("dee's reminder %s after the SIGKILL", time.Since(killedAt).Round(time.Millisecond))
	close(stopTraffic)
	_, members = memberships(t, brokers, prefix)
	require.True(t, members["cart_abandoned"][user("dee")])
	// dee buys during her follow-up's wait: she leaves the segment, and the
	// waiting run ends.
	send("/v1/track", fmt.Sprintf(`{"messageId":"m-%s-%d","userId":%q,"event":"Order Completed","properties":{"total":30},%s}`,
		id, n, user("dee"), consent(true)))
	require.Eventually(t, func() bool {
		return metric(t, adminAddr, token, `sillage_workflow_runs_total{outcome="exited"}`) == "1"
	}, 30*time.Second, 200*time.Millisecond, "dee's follow-up ended by her purchase")
	// ann's follow-up was due while the process was down: sent once after
	// the restart. cyd's is refused (marketing withdrawn).
	require.Eventually(t, func() bool { return len(mp.To(t, email("ann"))) == 2 }, 30*time.Second, 200*time.Millisecond,
		"ann's follow-up")
	require.Eventually(t, func() bool { return metric(t, adminAddr, token, "sillage_workflow_waiting") == "0" },
		30*time.Second, 200*time.Millisecond)

	// Nothing more arrives: not a second one for dee, not ann's again, none
	// for bob or cyd.
	time.Sleep(3 * time.Second)
	var subjects []string
	for _, m := range mp.To(t, email("ann")) {
		subjects = append(subjects, m.Subject)
	}
	require.ElementsMatch(t, []string{"Ann, your cart is waiting", "Still thinking about it, Ann?"}, subjects)
	require.Len(t, mp.To(t, email("dee")), 1)
	require.Empty(t, mp.To(t, email("bob")))
	require.Empty(t, mp.To(t, email("cyd")))
	require.Len(t, mp.Messages(t), 3)

	// The emitted events went through the enricher: once per reminder sent,
	// for the visitor's profile, with the workflow's trait.
	serde := testSerde(t, prefix)
	emitted := map[string]int{}
	reminded := map[string]int{}
	for _, r := range readTopic(t, brokers, prefix+"events.enriched") {
		ev, err := serde.DecodeEnriched(context.Background(), r.Value)
		require.NoError(t, err)
		if ev.Raw.Source != workflow.EmitSource {
			continue
		}
		require.False(t, ev.Bot, "emitted events are not bots")
		switch {
		case ev.Raw.Type == "track" && ev.Raw.Event == "Cart Reminder Sent":
			emitted[ev.ProfileID]++
		case ev.Raw.Type == "identify" && strings.Contains(ev.Raw.TraitsJSON, `"cart_reminded":true`):
			reminded[ev.ProfileID]++
		}
	}
	require.Equal(t, map[string]int{user("ann"): 1, user("dee"): 1}, emitted)
	require.Equal(t, map[string]int{user("ann"): 1, user("dee"): 1}, reminded)
	p.stop(t)
}

// metric returns the value of one series on the admin /metrics page ("" if
// absent).
func metric(t *testing.T, adminAddr, token, series string) string {
	t.Helper()
	code, body := getWithToken(t, "http://"+adminAddr+"/metrics", token)
	require.Equal(t, http.StatusOK, code, body)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
