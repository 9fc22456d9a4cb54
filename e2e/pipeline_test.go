//go:build integration

package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/sink"
)

// realBrokers returns the real Apache Kafka brokers `make test` started.
func realBrokers(t *testing.T) []string {
	t.Helper()
	b := os.Getenv("SILLAGE_TEST_KAFKA_BROKERS")
	if b == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SILLAGE_TEST_KAFKA_BROKERS is not set: run `make test`, which starts Apache Kafka")
		}
		t.Skip("needs real Apache Kafka: run `make test` (or `bash scripts/kafka.sh start` and set SILLAGE_TEST_KAFKA_BROKERS)")
	}
	return strings.Split(b, ",")
}

func randomID(t testing.TB) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

type hookServer struct {
	mu       sync.Mutex
	calls    map[string]int // idempotency key -> attempts
	payloads map[string]map[string]any
	secret   string
	t        testing.TB
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	if r.Header.Get("X-Sillage-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	h.mu.Lock()
	h.calls[key]++
	first := h.calls[key] == 1
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	h.payloads[key] = p
	h.mu.Unlock()
	if first {
		http.Error(w, "try again", http.StatusServiceUnavailable) // exercises the retry
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestPipelineOnRealKafka runs the whole pipeline (collector, enricher,
// segmenter with a webhook workflow, sink) as one process against a real
// Apache Kafka broker: events posted to the collector appear enriched in the
// lake, a segment entry appears on the membership topic and triggers its
// webhook, bad requests get 4xx JSON errors and lose nothing acknowledged.
func TestPipelineOnRealKafka(t *testing.T) {
	brokers := realBrokers(t)
	id := randomID(t)
	prefix := "sillage.e2e" + id + "."
	hooks := &hookServer{calls: map[string]int{}, payloads: map[string]map[string]any{}, secret: "hook-secret-" + id, t: t}
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()
	t.Setenv("SILLAGE_E2E_HOOK_SECRET", hooks.secret)

	defs := filepath.Join(t.TempDir(), "segments.yaml")
	require.NoError(t, os.WriteFile(defs, []byte(fmt.Sprintf(`
segments:
  - name: signed_up
    event:
      enter: event.type == "track" && event.name == "Signed Up"
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 30m
workflows:
  - name: welcome
    trigger: {segment: signed_up, on: entered}
    actions:
      - webhook:
          url: %s/welcome
          secret_env: SILLAGE_E2E_HOOK_SECRET
          timeout: 5s
          max_attempts: 4
`, hookSrv.URL)), 0o644))

	dataDir := t.TempDir()
	collectorAddr, adminAddr := freeAddr(t), freeAddr(t)
	const writeKey = "e2e-write-key-0001"
	p := startSillage(t, collectorAddr, adminAddr,
		"-kafka.brokers", strings.Join(brokers, ","), "-kafka.topic-prefix", prefix, "-kafka.partitions", "3",
		"-kafka.replication-factor", "1", "-instance.id", "e2e-"+id, "-data.dir", dataDir,
		"-collector.source", "e2e:"+writeKey+":*", "-admin.token", "e2e-admin-token-"+id,
		"-segmenter.definitions", defs, "-sink.max-age", "1s")

	base := "http://" + collectorAddr
	consentAll := `"context":{"consent":{"categoryPreferences":{"analytics":true,"personalisation":true,"marketing":true}}}`
	var sent []string
	postOK := func(path, body string) {
		t.Helper()
		code, resp := post(t, base+path, writeKey, body)
		require.Equal(t, 200, code, resp)
		require.JSONEq(t, `{"success":true}`, resp)
	}
	for i := 0; i < 3; i++ {
		user := fmt.Sprintf("user-%s-%d", id, i)
		anon := fmt.Sprintf("anon-%s-%d", id, i)
		ids := []string{"m-" + id + "-" + fmt.Sprint(i) + "-page", "m-" + id + "-" + fmt.Sprint(i) + "-signup", "m-" + id + "-" + fmt.Sprint(i) + "-identify"}
		postOK("/v1/page", fmt.Sprintf(`{"messageId":%q,"anonymousId":%q,"name":"Home","properties":{"path":"/","url":"https://shop.example/"},%s}`, ids[0], anon, consentAll))
		postOK("/v1/batch", fmt.Sprintf(`{"batch":[
			{"type":"track","messageId":%q,"anonymousId":%q,"userId":%q,"event":"Signed Up","properties":{"plan":"free"},%s},
			{"type":"identify","messageId":%q,"anonymousId":%q,"userId":%q,"traits":{"email":"%s@example.com"},%s}]}`,
			ids[1], anon, user, consentAll, ids[2], anon, user, user, consentAll))
		sent = append(sent, ids...)
	}
	// A visitor without any consent information: processed for necessary
	// purposes only (fail closed), so no segment and no full IP.
	noConsent := "m-" + id + "-noconsent"
	postOK("/v1/track", fmt.Sprintf(`{"messageId":%q,"anonymousId":"anon-%s-x","event":"Signed Up"}`, noConsent, id))
	sent = append(sent, noConsent)

	// Bad requests: 4xx with a JSON body naming the problem.
	for _, c := range []struct {
		name, key, body string
		code            int
	}{
		{"malformed JSON", writeKey, `{"batch":[{"type":"track",`, 400},
		{"unknown write key", "not-a-key-at-all", `{"type":"track","event":"x","anonymousId":"a"}`, 401},
		{"oversized body", writeKey, `{"batch":[` + strings.Repeat(`{"type":"track","event":"x","anonymousId":"a","properties":{"pad":"`+strings.Repeat("x", 1000)+`"}},`, 600) + `{}]}`, 413},
	} {
		code, resp := post(t, base+"/v1/batch", c.key, c.body)
		require.Equal(t, c.code, code, "%s: %s", c.name, resp)
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(resp), &e), "%s: the answer is JSON: %s", c.name, resp)
		require.NotEmpty(t, e["error"], c.name)
	}

	// The lake has every acknowledged event, enriched.
	lake := filepath.Join(dataDir, "lake")
	var events []sink.EventRow
	require.Eventually(t, func() bool {
		var err error
		events, err = sink.ReadEvents(context.Background(), lake)
		return err == nil && len(events) >= len(sent)
	}, 90*time.Second, 500*time.Millisecond, "the lake should hold the %d events", len(sent))
	require.Len(t, events, len(sent), "nothing lost, nothing duplicated by the bad requests")
	byID := map[string]sink.EventRow{}
	for _, e := range events {
		byID[e.EventID] = e
	}
	for _, m := range sent {
		require.Contains(t, byID, m)
	}
	signup := byID["m-"+id+"-0-signup"]
	require.Equal(t, "user-"+id+"-0", signup.ProfileID)
	require.NotEmpty(t, signup.SessionID)
	require.Equal(t, byID["m-"+id+"-0-page"].SessionID, signup.SessionID, "the page view and the signup share the session")
	require.True(t, signup.ConsentAnalytics)
	require.True(t, signup.ConsentMarketing)
	require.Equal(t, "127.0.0.1", signup.ContextIP, "with analytics consent the IP is kept")
	nc := byID[noConsent]
	require.False(t, nc.ConsentAnalytics, "no consent information: fail closed")
	require.False(t, nc.ConsentMarketing)
	require.Equal(t, "127.0.0.0", nc.ContextIP, "without analytics consent the IP is truncated")

	// Segment entries on the membership topic of the real broker.
	var members map[string]map[string]bool
	require.Eventually(t, func() bool {
		_, members = memberships(t, brokers, prefix)
		return len(members["signed_up"]) >= 3
	}, 60*time.Second, time.Second)
	all, members := memberships(t, brokers, prefix)
	require.Len(t, members["signed_up"], 3, "the three consented users, not the one without consent")
	for i := 0; i < 3; i++ {
		require.True(t, members["signed_up"][fmt.Sprintf("user-%s-%d", id, i)])
	}
	for _, tr := range all {
		require.Equal(t, schemas.Entered, tr.Transition)
		require.True(t, tr.Consent.Marketing, "the transition carries the consent snapshot")
	}

	// The admin API shows the same transitions, decoded, to the token holder.
	code, body := getWithToken(t, "http://"+adminAddr+"/v1/segments/transitions?limit=10", "")
	require.Equal(t, 401, code, body)
	code, body = getWithToken(t, "http://"+adminAddr+"/v1/segments/transitions?limit=10", "e2e-admin-token-"+id)
	require.Equal(t, 200, code, body)
	var view struct {
		Transitions []struct {
			Segment    string `json:"segment"`
			ProfileID  string `json:"profile_id"`
			Transition string `json:"transition"`
		} `json:"transitions"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &view))
	require.Len(t, view.Transitions, 3)
	for _, tr := range view.Transitions {
		require.Equal(t, "signed_up", tr.Segment)
		require.Equal(t, "ENTERED", tr.Transition)
		require.True(t, members["signed_up"][tr.ProfileID])
	}

	// Each entry triggered its webhook once, signed, retried after a 503.
	require.Eventually(t, func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		return len(hooks.calls) == 3 && allAtLeast(hooks.calls, 2)
	}, 60*time.Second, 200*time.Millisecond)
	hooks.mu.Lock()
	for key, n := range hooks.calls {
		require.Equal(t, 2, n, "webhook %s: one failed attempt, one success, no more", key)
		require.Equal(t, "signed_up", hooks.payloads[key]["segment"])
	}
	hooks.mu.Unlock()
	p.stop(t)
}

func getWithToken(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func allAtLeast(m map[string]int, n int) bool {
	for _, v := range m {
		if v < n {
			return false
		}
	}
	return true
}
