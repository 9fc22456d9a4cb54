package app

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
)

// transitionView is one membership transition as the admin API shows it.
type transitionView struct {
	ID           string          `json:"id"`
	Segment      string          `json:"segment"`
	ProfileID    string          `json:"profile_id"`
	Transition   string          `json:"transition"`
	CauseEventID string          `json:"cause_event_id,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	EventTime    time.Time       `json:"event_time"`
	EvaluatedAt  time.Time       `json:"evaluated_at"`
	Consent      schemas.Consent `json:"consent"`
}

// recentTransitions serves GET /v1/segments/transitions?limit=N: the last N
// committed records of the membership topic, newest first, decoded. It
// reads Kafka on each request (bounded by limit per partition), so it shows
// what any consumer of the topic sees.
func recentTransitions(kcfg kafka.Config, serde *schemas.Serde) http.Handler {
	topic := kcfg.Topics().Membership
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				writeJSONError(w, http.StatusBadRequest, "limit: want an integer between 1 and 1000")
				return
			}
			limit = n
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		out, err := readLastTransitions(ctx, kcfg, serde, topic, limit)
		if err != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "reading "+topic+": "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"topic": topic, "transitions": out})
	})
}

func readLastTransitions(ctx context.Context, kcfg kafka.Config, serde *schemas.Serde, topic string, limit int) ([]transitionView, error) {
	cl, err := kgo.NewClient(append(kcfg.Opts("admin-view"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	from := map[string]map[int32]kgo.Offset{topic: {}}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start := o.Offset - int64(limit)*2 // markers take offsets too
		if s, ok := starts.Lookup(topic, o.Partition); ok && start < s.Offset {
			start = s.Offset
		}
		if start < o.Offset {
			from[topic][o.Partition] = kgo.NewOffset().At(start)
			remaining[o.Partition] = o.Offset
		}
	})
	if len(remaining) == 0 {
		return []transitionView{}, nil
	}
	cl.AddConsumePartitions(from)
	var out []transitionView
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fs.NumRecords() == 0 {
			break // the end was reached (or only aborted data remains): return what was read
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset+1 >= remaining[rec.Partition] {
				delete(remaining, rec.Partition)
			}
			if rec.Attrs.IsControl() {
				return
			}
			m, err := serde.DecodeMembership(ctx, rec.Value)
			if err != nil {
				return
			}
			out = append(out, transitionView{
				ID: m.ID, Segment: m.Segment, ProfileID: m.ProfileID, Transition: string(m.Transition),
				CauseEventID: m.CauseEventID, Reason: m.Reason,
				EventTime: time.UnixMilli(m.EventTime).UTC(), EvaluatedAt: time.UnixMilli(m.EvaluatedAt).UTC(),
				Consent: m.Consent,
			})
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EvaluatedAt.After(out[j].EvaluatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
