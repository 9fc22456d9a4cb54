package replay_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/replay"
)

// collector is a fake /v1/batch endpoint recording what it accepted.
type collector struct {
	t *testing.T
	// reject, if set, decides the fate of a request before it is accepted;
	// tries counts earlier requests carrying the same first messageId.
	// It returns true when it has answered the request itself.
	reject func(w http.ResponseWriter, tries int, batch []map[string]any) bool

	mu        sync.Mutex
	tries     map[string]int            // first messageId of a batch → requests seen
	events    map[string]map[string]any // messageId → last accepted event
	delivered map[string]int            // messageId → times received
	order     []string                  // accepted messageIds in arrival order
	bodies    map[string]string         // messageId → event JSON minus sentAt, first seen
	inFlight  atomic.Int32
	maxFlight atomic.Int32
	maxBody   atomic.Int64
	delay     time.Duration
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{t: t, tries: map[string]int{}, events: map[string]map[string]any{},
		delivered: map[string]int{}, bodies: map[string]string{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for m := c.maxFlight.Load(); n > m && !c.maxFlight.CompareAndSwap(m, n); m = c.maxFlight.Load() {
	}
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/batch" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	if user, _, ok := r.BasicAuth(); !ok || user != "sillage-demo" {
		http.Error(w, `{"error":"unknown write key"}`, http.StatusUnauthorized)
		return
	}
	var body struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	raw, err := io.ReadAll(r.Body)
	if n := int64(len(raw)); n > c.maxBody.Load() {
		c.maxBody.Store(n) // requests of one test are sequential here
	}
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil || len(body.Batch) == 0 || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"error":"bad batch"}`, http.StatusBadRequest)
		return
	}
	ids := make([]string, len(body.Batch))
	for i, e := range body.Batch {
		ids[i], _ = e["messageId"].(string)
	}
	c.mu.Lock()
	tries := c.tries[ids[0]]
	c.tries[ids[0]]++
	c.mu.Unlock()
	if c.reject != nil && c.reject(w, tries, body.Batch) {
		return
	}
	c.accept(body.Batch)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"success":true}`))
}

func (c *collector) accept(batch []map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range batch {
		id := e["messageId"].(string)
		c.events[id] = e
		c.delivered[id]++
		c.order = append(c.order, id)
		stable := map[string]any{}
		for k, v := range e {
			if k != "sentAt" {
				stable[k] = v
			}
		}
		js, _ := json.Marshal(stable)
		if prev, ok := c.bodies[id]; ok {
			require.JSONEq(c.t, prev, string(js), "a resent event must be the same event")
		} else {
			c.bodies[id] = string(js)
		}
	}
}

func testConfig(url string) replay.Config {
	cfg := replay.DefaultConfig()
	cfg.URL = url
	cfg.MinBackoff = time.Millisecond
	cfg.MaxBackoff = 10 * time.Millisecond
	cfg.RetryFor = 10 * time.Second
	return cfg
}

func TestRun_REES46(t *testing.T) {
	col, srv := newCollector(t)
	cfg := testConfig(srv.URL)
	cfg.File = dataFile(t)

	before := time.Now().Add(-time.Second)
	st, err := replay.Run(context.Background(), cfg, nil)
	after := time.Now().Add(time.Second)
	require.NoError(t, err)
	require.Equal(t, replay.Stats{Rows: 17434, Sent: 17434, Acknowledged: 17434, Requests: 175}, st)

	rows, err := replay.ReadCSV(cfg.File)
	require.NoError(t, err)
	require.Len(t, col.events, 17434)
	byEvent := map[string]int{}
	for _, e := range col.events {
		byEvent[e["event"].(string)]++
	}
	require.Equal(t, map[string]int{"Product Viewed": 17055, "Product Added": 165, "Order Completed": 214}, byEvent)

	wantOrder := make([]string, len(rows))
	orders := map[string]bool{}
	for i, r := range rows {
		wantOrder[i] = r.MessageID
		e := col.events[r.MessageID]
		require.NotNil(t, e, "line %d not received", r.Line)
		checkEvent(t, r, e, before, after)
		if r.EventType == "purchase" {
			id := e["properties"].(map[string]any)["order_id"].(string)
			require.False(t, orders[id], "order_id %s repeated", id)
			orders[id] = true
		}
	}
	require.Equal(t, wantOrder, col.order, "concurrency 1 keeps file order")
	// Segment's documented limit for a /v1/batch request is 500 KB.
	t.Logf("largest batch body: %d bytes", col.maxBody.Load())
	require.Less(t, col.maxBody.Load(), int64(500<<10))
}

// checkEvent compares a received event with the row it must come from.
func checkEvent(t *testing.T, r replay.Row, e map[string]any, before, after time.Time) {
	t.Helper()
	names := map[string]string{"view": "Product Viewed", "cart": "Product Added", "purchase": "Order Completed"}
	require.Equal(t, "track", e["type"], "line %d", r.Line)
	require.Equal(t, names[r.EventType], e["event"], "line %d", r.Line)
	require.Equal(t, r.UserID, e["userId"], "line %d", r.Line)
	ts, err := time.Parse(time.RFC3339, e["timestamp"].(string))
	require.NoError(t, err)
	require.True(t, ts.Equal(r.EventTime), "line %d: timestamp %v, want %v", r.Line, ts, r.EventTime)
	require.NotContains(t, e, "sentAt", "line %d: historical rows carry no sentAt by default", r.Line)

	p := e["properties"].(map[string]any)
	require.Equal(t, r.ProductID, p["product_id"])
	require.Equal(t, r.CategoryID, p["category_id"])
	require.Equal(t, r.UserSession, p["user_session"])
	require.Equal(t, r.Price, p["price"])
	require.Equal(t, "USD", p["currency"])
	require.Equal(t, 1.0, p["quantity"])
	for key, v := range map[string]string{"category_code": r.CategoryCode, "brand": r.Brand} {
		if v == "" {
			require.NotContains(t, p, key, "line %d: empty %s is omitted", r.Line, key)
		} else {
			require.Equal(t, v, p[key], "line %d", r.Line)
		}
	}
	if r.EventType == "purchase" {
		require.Equal(t, r.OrderID(), p["order_id"])
		require.Equal(t, r.Price, p["revenue"])
		require.Len(t, p["products"], 1)
	} else {
		require.NotContains(t, p, "order_id")
		require.NotContains(t, p, "revenue")
	}
	prefs := e["context"].(map[string]any)["consent"].(map[string]any)["categoryPreferences"]
	require.Equal(t, map[string]any{"necessary": true, "analytics": true, "personalisation": true, "marketing": true, "advertising": true}, prefs)
}

func readRows(t *testing.T, n int) []replay.Row {
	rows, err := replay.ReadCSV(dataFile(t))
	require.NoError(t, err)
	return rows[:n]
}

func TestSend_RetriesKeepMessageIDs(t *testing.T) {
	rows := readRows(t, 3000)
	for _, tc := range []struct {
		name         string
		reject       func(c *collector) func(w http.ResponseWriter, tries int, batch []map[string]any) bool
		wantDelivery int // deliveries of each event
	}{
		{"503 twice", func(*collector) func(http.ResponseWriter, int, []map[string]any) bool {
			return func(w http.ResponseWriter, tries int, _ []map[string]any) bool {
				if tries < 2 {
					w.Header().Set("Retry-After", "0")
					http.Error(w, `{"error":"kafka unavailable"}`, http.StatusServiceUnavailable)
					return true
				}
				return false
			}
		}, 1},
		{"429 then ok", func(*collector) func(http.ResponseWriter, int, []map[string]any) bool {
			return func(w http.ResponseWriter, tries int, _ []map[string]any) bool {
				if tries == 0 {
					http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
					return true
				}
				return false
			}
		}, 1},
		{"connection dropped", func(*collector) func(http.ResponseWriter, int, []map[string]any) bool {
			return func(w http.ResponseWriter, tries int, _ []map[string]any) bool {
				if tries == 0 {
					conn, _, err := http.NewResponseController(w).Hijack()
					require.NoError(t, err)
					conn.Close()
					return true
				}
				return false
			}
		}, 1},
		{"acknowledgement lost", func(c *collector) func(http.ResponseWriter, int, []map[string]any) bool {
			return func(w http.ResponseWriter, tries int, batch []map[string]any) bool {
				if tries == 0 {
					// Stored, but the answer says otherwise: the client
					// resends the same events, so the collector can
					// deduplicate them by messageId.
					c.accept(batch)
					http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
					return true
				}
				return false
			}
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, srv := newCollector(t)
			col.reject = tc.reject(col)
			st, err := replay.Send(context.Background(), testConfig(srv.URL), rows, nil)
			require.NoError(t, err)
			require.Equal(t, len(rows), st.Acknowledged)
			require.Equal(t, len(rows), st.Sent, "sent counts events, not tries")
			require.Zero(t, st.Failed)
			require.Positive(t, st.Retries)
			require.Len(t, col.events, len(rows), "no event lost, none invented")
			for _, r := range rows {
				require.Equal(t, tc.wantDelivery, col.delivered[r.MessageID], "line %d", r.Line)
			}
		})
	}
}

func TestSend_SentAtWhenAsked(t *testing.T) {
	rows := readRows(t, 200)
	col, srv := newCollector(t)
	cfg := testConfig(srv.URL)
	cfg.SentAt = true
	before := time.Now()
	_, err := replay.Send(context.Background(), cfg, rows, nil)
	require.NoError(t, err)
	after := time.Now()
	require.Len(t, col.events, len(rows))
	for _, e := range col.events {
		sent, err := time.Parse(time.RFC3339Nano, e["sentAt"].(string))
		require.NoError(t, err)
		require.True(t, !sent.Before(before.Truncate(time.Millisecond)) && !sent.After(after), "sentAt %v is the time of sending", sent)
	}
}

func TestSend_StopsWhenTheCollectorStaysDown(t *testing.T) {
	rows := readRows(t, 3000)
	cfg := testConfig("http://127.0.0.1:1") // nothing listens there
	cfg.RetryFor = 300 * time.Millisecond
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 50*time.Millisecond
	start := time.Now()
	st, err := replay.Send(context.Background(), cfg, rows, nil)
	require.ErrorContains(t, err, "unavailable for 300ms")
	require.Less(t, time.Since(start), 10*time.Second, "gives up instead of retrying every batch")
	require.Zero(t, st.Acknowledged)
	require.Less(t, st.Sent, len(rows), "later batches are not sent")
}
