package main

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendEventIsASignedUpWithFullConsent(t *testing.T) {
	var ev struct {
		Type      string `json:"type"`
		Event     string `json:"event"`
		UserID    string `json:"userId"`
		MessageID string `json:"messageId"`
		Context   struct {
			Consent struct {
				CategoryPreferences map[string]bool `json:"categoryPreferences"`
			} `json:"consent"`
		} `json:"context"`
	}
	if err := json.Unmarshal(appendEvent(nil, "seglat-x-r2000-7"), &ev); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if ev.Type != "track" || ev.Event != "Signed Up" || ev.UserID != "seglat-x-r2000-7" || ev.MessageID != ev.UserID {
		t.Fatalf("unexpected event %+v", ev)
	}
	for _, c := range []string{"analytics", "personalisation", "marketing", "advertising"} {
		if !ev.Context.Consent.CategoryPreferences[c] {
			t.Errorf("consent category %s not granted", c)
		}
	}
}

func TestParseMetricsKeepsTheStreamCounters(t *testing.T) {
	text := `# HELP sillage_stream_batch_duration_seconds Time to process and commit one polled batch.
sillage_stream_batch_duration_seconds_bucket{stage="segmenter",le="0.001"} 3
sillage_stream_batch_duration_seconds_sum{stage="segmenter"} 0.25
sillage_stream_batch_duration_seconds_count{stage="segmenter"} 100
sillage_stream_records_in_total{stage="segmenter"} 2000
sillage_collector_requests_total{code="200"} 5
`
	m := parseMetrics(text)
	want := map[string]float64{
		`sillage_stream_batch_duration_seconds_sum{stage="segmenter"}`:   0.25,
		`sillage_stream_batch_duration_seconds_count{stage="segmenter"}`: 100,
		`sillage_stream_records_in_total{stage="segmenter"}`:             2000,
	}
	if len(m) != len(want) {
		t.Fatalf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestSummarizeMatchesAcksToEntries(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := &tracker{ack: map[string]time.Time{}, entry: map[string]entry{}}
	var s sent
	for i, id := range []string{"a", "b", "c", "d"} {
		tr.acked(id, t0)
		s.ids = append(s.ids, id)
		s.reqLat = append(s.reqLat, time.Millisecond)
		if id != "d" { // d's entry never arrives
			tr.entered(id, entry{seen: t0.Add(time.Duration(i+1) * 10 * time.Millisecond), evaluated: t0.Add(time.Millisecond)})
		}
	}
	s.acked = 4
	s.elapsed = 2 * time.Millisecond
	st := summarize(tr, s)
	if st.matched != 3 || st.p50 != 20*time.Millisecond || st.max != 30*time.Millisecond || st.evalP99 != time.Millisecond {
		t.Fatalf("unexpected summary %+v", st)
	}
	if st.achieved != 2000 {
		t.Fatalf("achieved %v, want 2000/s", st.achieved)
	}
	tr.entered("a", entry{seen: t0})
	if tr.dups != 1 {
		t.Fatalf("a second entry for a is not counted as a duplicate")
	}
}
