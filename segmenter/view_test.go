package segmenter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/admin"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

const viewDefs = `
segments:
  - name: buyer
    event: {enter: 'event.type == "track" && event.name == "Order Completed"'}
  - name: browsing
    window: {match: 'event.type == "page"', within: 10m, at_least: 2}
  - name: cart_abandoned
    absence:
      start: event.type == "track" && event.name == "Product Added"
      missing: event.type == "track" && event.name == "Order Completed"
      within: 30m
  - name: funnel
    sequence:
      steps:
        - event.type == "track" && event.name == "Product Added"
        - event.type == "track" && event.name == "Checkout Started"
        - event.type == "track" && event.name == "Payment Info Entered"
      within: 1h
  - name: hot
    in_segments: {all: [cart_abandoned, browsing]}
  - name: pro
    event: {enter: 'has(profile.traits.plan) && profile.traits.plan == "pro"'}
`

func anon(id string) evOpt { return func(e *schemas.EnrichedEvent) { e.Raw.AnonymousID = id } }

// viewServer serves the two endpoints as the admin port mounts them.
func viewServer(t *testing.T, h *harness) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/profiles/{id}", h.seg.ProfileHandler(false))
	mux.Handle("GET /v1/profiles/{id}/explain", h.seg.ProfileHandler(true))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if resp.StatusCode != http.StatusUnauthorized {
		require.NoError(t, json.Unmarshal(b, &m), "body %s", b)
	}
	return resp.StatusCode, m
}

func rfc(d time.Duration) string { return at(d).UTC().Format(time.RFC3339) }

func explainURL(srv *httptest.Server, profile, segment string) string {
	return srv.URL + "/v1/profiles/" + url.PathEscape(profile) + "/explain?segment=" + url.QueryEscape(segment)
}

func TestProfileViewAndExplain(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	srv := viewServer(t, h)
	h.run(
		h.event("p", "page", "", at(0), withID("v1"), anon("anon-1")),
		h.event("p", "page", "", at(time.Minute), withID("v2"), anon("anon-1")),
		h.event("p", "track", "Product Added", at(2*time.Minute), withID("a1"), anon("anon-2")),
		h.event("p", "track", "Checkout Started", at(3*time.Minute), withID("c1")),
		h.event("p", "identify", "", at(4*time.Minute), withID("i1"), traits(`{"plan":"pro","name":"Ada"}`)),
	)

	code, v := getJSON(t, srv.URL+"/v1/profiles/p", "")
	require.Equal(t, 200, code, "%v", v)
	require.Equal(t, "p", v["profile_id"])
	require.Equal(t, map[string]any{"profile_id": "p", "user_id": "p", "anonymous_ids": []any{"anon-1", "anon-2"}}, v["identities"])
	require.Equal(t, map[string]any{"plan": "pro", "name": "Ada"}, v["traits"])
	require.Equal(t, true, v["consent"].(map[string]any)["personalisation"])
	segs := map[string]map[string]any{}
	for _, s := range v["segments"].([]any) {
		m := s.(map[string]any)
		segs[m["segment"].(string)] = m
	}
	require.Len(t, segs, 2, "%v", v["segments"])
	require.Equal(t, map[string]any{"segment": "browsing", "kind": "window", "since": rfc(time.Minute), "cause": "v2",
		"reason": "the window holds at least 2 events matching window.match within 10m0s"}, segs["browsing"])
	require.Equal(t, "i1", segs["pro"]["cause"])
	pending := map[string]map[string]any{}
	for _, p := range v["pending"].([]any) {
		m := p.(map[string]any)
		pending[m["kind"].(string)+"/"+fmt.Sprint(m["segment"])] = m
	}
	require.Equal(t, rfc(32*time.Minute), pending["absence/cart_abandoned"]["due"])
	require.Contains(t, pending["absence/cart_abandoned"]["what"], "opened by event a1")
	require.Equal(t, rfc(10*time.Minute), pending["window/browsing"]["due"], "exits when the view at 0 slides out")
	require.Equal(t, "partial sequence: 2 of 3 steps matched", pending["sequence/funnel"]["what"])
	recent := v["recent_events"].([]any)
	require.Len(t, recent, 5)
	require.Equal(t, map[string]any{"id": "a1", "type": "track", "name": "Product Added", "time": rfc(2 * time.Minute)}, recent[2])
	require.Equal(t, "i1", recent[4].(map[string]any)["id"])

	// explain, one segment of each kind.
	code, x := getJSON(t, explainURL(srv, "p", "browsing"), "")
	require.Equal(t, 200, code)
	require.Equal(t, true, x["member"])
	require.Equal(t, rfc(time.Minute), x["since"])
	d := x["details"].(map[string]any)
	require.Equal(t, 2.0, d["count_in_window"])
	require.Equal(t, 2.0, d["at_least"])
	require.Equal(t, rfc(10*time.Minute), d["oldest_slides_out_at"])
	require.Equal(t, rfc(4*time.Minute), d["window_end"])

	_, x = getJSON(t, explainURL(srv, "p", "cart_abandoned"), "")
	require.Equal(t, false, x["member"])
	d = x["details"].(map[string]any)
	require.Equal(t, rfc(2*time.Minute), d["start_seen_at"])
	require.Equal(t, "a1", d["start_event"])
	require.Equal(t, rfc(32*time.Minute), d["deadline"])
	require.Equal(t, false, d["missing_seen"])
	require.Contains(t, x["why"], "window open")

	_, x = getJSON(t, explainURL(srv, "p", "funnel"), "")
	require.Equal(t, false, x["member"])
	d = x["details"].(map[string]any)
	require.Equal(t, 2.0, d["steps_matched"])
	require.Equal(t, rfc(62*time.Minute), d["complete_before"])
	require.Len(t, d["steps"], 3)

	_, x = getJSON(t, explainURL(srv, "p", "hot"), "")
	require.Equal(t, false, x["member"])
	require.Equal(t, map[string]any{"all": map[string]any{"cart_abandoned": false, "browsing": true}}, x["details"].(map[string]any)["dependencies"])

	_, x = getJSON(t, explainURL(srv, "p", "buyer"), "")
	require.Equal(t, false, x["member"])
	require.Contains(t, x["why"], "cannot be re-evaluated")
	require.Equal(t, `event.type == "track" && event.name == "Order Completed"`, x["details"].(map[string]any)["enter"])

	// An order: buyer entered on it; the absence window completed.
	h.run(h.event("p", "track", "Order Completed", at(5*time.Minute), withID("o1")))
	_, x = getJSON(t, explainURL(srv, "p", "buyer"), "")
	require.Equal(t, true, x["member"])
	require.Equal(t, "o1", x["cause"])
	require.Equal(t, "o1", x["details"].(map[string]any)["entering_event"])
	require.Equal(t, rfc(5*time.Minute), x["since"])
	_, x = getJSON(t, explainURL(srv, "p", "cart_abandoned"), "")
	require.Equal(t, []any{rfc(5 * time.Minute)}, x["details"].(map[string]any)["missing_seen_at"])
	require.Contains(t, x["why"], "completed")

	// An absence entry by its timer: the cause is the timer.
	h.run(h.event("q", "track", "Product Added", at(10*time.Minute), withID("qa")))
	h.run(h.event("z", "page", "", at(41*time.Minute)))
	_, x = getJSON(t, explainURL(srv, "q", "cart_abandoned"), "")
	require.Equal(t, true, x["member"])
	require.Equal(t, rfc(40*time.Minute), x["since"])
	require.Equal(t, "timer:"+itoa(at(40*time.Minute).UnixMilli())+":qa", x["cause"])
	require.Contains(t, x["reason"], "of event qa")

	// 404s: an unknown segment, a profile without state.
	code, x = getJSON(t, explainURL(srv, "p", "nope"), "")
	require.Equal(t, 404, code)
	require.Equal(t, `segment "nope" is not defined`, x["error"])
	code, x = getJSON(t, explainURL(srv, "p", ""), "")
	require.Equal(t, 400, code)
	require.Contains(t, x["error"], "segment")
	code, x = getJSON(t, srv.URL+"/v1/profiles/stranger", "")
	require.Equal(t, 404, code)
	require.Contains(t, x["error"], `profile "stranger" is unknown to this instance`)
	code, _ = getJSON(t, explainURL(srv, "stranger", "buyer"), "")
	require.Equal(t, 404, code)

	// Withdrawal erases the profile, recent events and identities included.
	h.run(h.event("p", "track", "X", at(6*time.Minute), noConsent))
	code, _ = getJSON(t, srv.URL+"/v1/profiles/p", "")
	require.Equal(t, 404, code)
	_, has := h.store.Get(profilePrefix + "p")
	require.False(t, has)
}

func TestProfileRecentEventsAreBounded(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	for i := range 15 {
		h.run(h.event("p", "page", "", at(time.Duration(i)*time.Second), withID(fmt.Sprintf("e%d", i)), anon(fmt.Sprintf("a%d", i))))
	}
	b, ok := h.store.Get(profilePrefix + "p")
	require.True(t, ok)
	st, err := decodeState(b)
	require.NoError(t, err)
	require.Len(t, st.Recent, 10)
	require.Equal(t, "e5", st.Recent[0].ID)
	require.Equal(t, "e14", st.Recent[9].ID)
	require.Equal(t, []string{"a11", "a12", "a13", "a14"}, st.AnonIDs)
	// Restored from the changelog, the view is the same.
	h.restart(h.store.Changelog())
	srv := viewServer(t, h)
	_, v := getJSON(t, srv.URL+"/v1/profiles/p", "")
	require.Len(t, v["recent_events"], 10)
	require.Equal(t, "e14", v["recent_events"].([]any)[9].(map[string]any)["id"])
}

func TestProfileOnAPartitionOwnedElsewhere(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	h.seg.partitions = 2 // the harness's task is partition 0
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		id := fmt.Sprintf("u%d", i)
		if PartitionOf(id, 2) == 0 {
			mine = id
		} else {
			theirs = id
		}
	}
	h.run(h.event(mine, "page", "", at(0)), h.event(mine, "page", "", at(time.Second)))
	srv := viewServer(t, h)
	code, v := getJSON(t, srv.URL+"/v1/profiles/"+mine, "")
	require.Equal(t, 200, code)
	require.Equal(t, 0.0, v["partition"])
	code, v = getJSON(t, srv.URL+"/v1/profiles/"+theirs, "")
	require.Equal(t, http.StatusMisdirectedRequest, code)
	require.Equal(t, false, v["owned"])
	require.Equal(t, 1.0, v["partition"])
	require.Equal(t, []any{0.0}, v["owned_partitions"])
	require.Contains(t, v["error"], "partition 1, which this instance does not own")
	code, _ = getJSON(t, explainURL(srv, theirs, "browsing"), "")
	require.Equal(t, http.StatusMisdirectedRequest, code)
	// A closed task (partition revoked) is no longer served.
	require.NoError(t, h.task.Close())
	code, _ = getJSON(t, srv.URL+"/v1/profiles/"+mine, "")
	require.Equal(t, http.StatusMisdirectedRequest, code)
}

// TestProfileViewWhileProcessing reads profiles while the task processes
// (run with -race).
func TestProfileViewWhileProcessing(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	srv := viewServer(t, h)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, u := range []string{srv.URL + "/v1/profiles/p", explainURL(srv, "p", "browsing"), explainURL(srv, "p", "funnel")} {
				resp, err := http.Get(u)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	for i := range 300 {
		var out stream.Output
		name := []string{"Product Added", "Checkout Started", "Order Completed"}[i%3]
		require.NoError(t, h.task.Process(context.Background(), h.record(h.event("p", "track", name, at(time.Duration(i)*time.Second))), &out))
		require.NoError(t, h.task.Process(context.Background(), h.record(h.event("p", "page", "", at(time.Duration(i)*time.Second))), &out))
		h.tick(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	code, v := getJSON(t, srv.URL+"/v1/profiles/p", "")
	require.Equal(t, 200, code)
	require.Len(t, v["recent_events"], 10)
}

// TestProfileEndpointsOnTheAdminPort mounts the endpoints as the app does:
// behind the admin token.
func TestProfileEndpointsOnTheAdminPort(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	h.run(h.event("p", "page", "", at(0), withID("v1")), h.event("p", "page", "", at(time.Second), withID("v2")))
	adm := admin.New(admin.Config{Addr: "127.0.0.1:0", Tokens: []string{"a-long-admin-token"}}, nil, h.reg)
	adm.Handle("GET /v1/profiles/{id}", adm.Protect(h.seg.ProfileHandler(false)))
	adm.Handle("GET /v1/profiles/{id}/explain", adm.Protect(h.seg.ProfileHandler(true)))
	require.NoError(t, adm.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- adm.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + adm.Addr()

	code, _ := getJSON(t, base+"/v1/profiles/p", "")
	require.Equal(t, 401, code)
	code, _ = getJSON(t, base+"/v1/profiles/p/explain?segment=browsing", "wrong-token-of-some-length")
	require.Equal(t, 401, code)
	code, v := getJSON(t, base+"/v1/profiles/p", "a-long-admin-token")
	require.Equal(t, 200, code)
	for _, k := range []string{"profile_id", "partition", "identities", "consent", "traits", "computed_traits", "segments", "pending", "recent_events", "notes"} {
		require.Contains(t, v, k)
	}
	require.Equal(t, "browsing", v["segments"].([]any)[0].(map[string]any)["segment"])
	code, x := getJSON(t, base+"/v1/profiles/p/explain?segment=browsing", "a-long-admin-token")
	require.Equal(t, 200, code)
	for _, k := range []string{"profile_id", "segment", "kind", "member", "since", "cause", "reason", "why", "details"} {
		require.Contains(t, x, k)
	}
	require.Equal(t, "window", x["kind"])
	code, x = getJSON(t, base+"/v1/profiles/p/explain?segment=nope", "a-long-admin-token")
	require.Equal(t, 404, code)
	require.Contains(t, x["error"], `"nope"`)
	code, _ = getJSON(t, base+"/v1/profiles/nobody", "a-long-admin-token")
	require.Equal(t, 404, code)
}

func TestRecentEventsBound(t *testing.T) {
	st := &profileState{}
	for i := range 5 {
		require.True(t, st.note(fmt.Sprintf("e%d", i), "page", "", "u", "", int64(i), 3))
	}
	require.Equal(t, []recentEvent{{"e2", "page", "", 2}, {"e3", "page", "", 3}, {"e4", "page", "", 4}}, st.Recent)
	require.False(t, st.note("e4", "page", "", "u", "", 4, 3), "the same event again (a duplicate) is not kept twice")
	// The bound lowered (a restart with a smaller -segmenter.recent-events).
	require.True(t, st.note("e5", "page", "", "u", "", 5, 2))
	require.Equal(t, []recentEvent{{"e4", "page", "", 4}, {"e5", "page", "", 5}}, st.Recent)
	// 0 keeps none (and drops those kept); identities are still noted.
	require.True(t, st.note("e6", "page", "", "u", "", 6, 0))
	require.Empty(t, st.Recent)
	require.False(t, st.note("e7", "page", "", "u", "", 7, 0))
	require.True(t, st.note("e8", "page", "", "v", "a", 8, 0))
	require.Equal(t, "v", st.UserID)
	require.Equal(t, []string{"a"}, st.AnonIDs)
}

// TestProfileViewReasonsMatchTransitions: the view derives each
// membership's reason from its rule; it must be the entered transition's.
func TestProfileViewReasonsMatchTransitions(t *testing.T) {
	h := newHarness(t, testConfig(), viewDefs)
	srv := viewServer(t, h)
	got := h.run(
		h.event("p", "track", "Order Completed", at(time.Minute)),
		h.event("p", "track", "Product Added", at(2*time.Minute), withID("a1")),
		h.event("p", "track", "Checkout Started", at(3*time.Minute)),
		h.event("p", "track", "Payment Info Entered", at(4*time.Minute)),
		h.event("p", "identify", "", at(5*time.Minute), traits(`{"plan":"pro"}`)),
		h.event("p", "page", "", at(31*time.Minute)),
		h.event("p", "page", "", at(31*time.Minute+30*time.Second)),
		h.event("z", "page", "", at(33*time.Minute)),
	)
	want := map[string]*schemas.MembershipTransition{}
	for _, tr := range got {
		if tr.ProfileID == "p" {
			if tr.Transition == schemas.Entered {
				want[tr.Segment] = tr
			} else {
				delete(want, tr.Segment)
			}
		}
	}
	for _, s := range []string{"buyer", "browsing", "cart_abandoned", "funnel", "hot", "pro"} {
		require.Contains(t, want, s, "scenario enters every kind: %v", got)
	}
	_, v := getJSON(t, srv.URL+"/v1/profiles/p", "")
	segs := v["segments"].([]any)
	require.Len(t, segs, len(want))
	for _, s := range segs {
		m := s.(map[string]any)
		tr := want[m["segment"].(string)]
		require.Equal(t, tr.Reason, m["reason"], m["segment"])
		require.Equal(t, time.UnixMilli(tr.EventTime).UTC().Format(time.RFC3339Nano), m["since"], m["segment"])
		if tr.CauseEventID != "" {
			require.Equal(t, tr.CauseEventID, m["cause"], m["segment"])
		} else {
			require.Contains(t, m["cause"], "timer:", m["segment"])
		}
	}
}
