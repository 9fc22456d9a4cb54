package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
)

// maxRunsKept bounds the runs remembered per profile and workflow.
const maxRunsKept = 100

// run is one run of a workflow for a profile: the transition that started
// it and its event time (Unix ms).
type run struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

// profileRuns is a profile's run history, by workflow. Seq orders the
// versions a profile's state went through (one writer at a time: the owner
// of the profile's membership partition).
type profileRuns struct {
	Seq  int64            `json:"seq"`
	Runs map[string][]run `json:"runs"`
	// Pending are the profile's runs waiting (a wait action, quiet hours).
	Pending []pendingStep `json:"pending,omitempty"`
	// Sent are the messages counted against the message cap (wall clock).
	Sent []run `json:"sent,omitempty"`
}

// runs is the run history that re-entry policies and frequency caps are
// decided on, kept in the compacted topic <prefix>workflow.runs.changelog
// (key: profile id) and read whole into memory by every instance. A run is
// written (and acknowledged) before its actions start, so a transition
// handled again after a crash finds its own run and goes ahead (its actions
// run again with the same idempotency keys), while any other transition
// sees the run.
type runs struct {
	kcfg  kafka.Config
	log   *slog.Logger
	topic string

	cl  *kgo.Client
	adm *kadm.Client

	mu        sync.Mutex
	byProfile map[string]*profileRuns
	pos       map[int32]int64
	pending   int
	waiting   prometheus.Gauge
	// withPending indexes the profiles that have pending steps, so that
	// looking for due steps does not scan every profile's history.
	withPending map[string]struct{}
}

// put replaces a profile's state and keeps the count of pending steps (mu
// held).
func (r *runs) put(pid string, pr *profileRuns) {
	if cur := r.byProfile[pid]; cur != nil {
		r.pending -= len(cur.Pending)
	}
	delete(r.withPending, pid)
	if pr == nil {
		delete(r.byProfile, pid)
	} else {
		r.byProfile[pid] = pr
		r.pending += len(pr.Pending)
		if len(pr.Pending) > 0 {
			r.withPending[pid] = struct{}{}
		}
	}
	if r.waiting != nil {
		r.waiting.Set(float64(r.pending))
	}
}

func newRuns(kcfg kafka.Config, log *slog.Logger) *runs {
	return &runs{kcfg: kcfg, log: log, topic: kcfg.Changelog("workflow", "runs"),
		byProfile: map[string]*profileRuns{}, pos: map[int32]int64{}, withPending: map[string]struct{}{}}
}

// start ensures the topic, restores the history and keeps reading it until
// ctx ends (the returned channel is closed then, also after an error).
func (r *runs) start(ctx context.Context) (<-chan struct{}, error) {
	done := make(chan struct{})
	cl, err := kgo.NewClient(append(r.kcfg.ProducerOpts("workflow-runs"),
		kgo.ConsumeTopics(r.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		close(done)
		return done, fmt.Errorf("runs: kafka client: %w", err)
	}
	r.cl, r.adm = cl, kadm.NewClient(cl)
	spec := kafka.TopicSpec{Name: r.topic, Partitions: r.kcfg.Partitions, Compacted: true}
	if err := kafka.EnsureTopics(ctx, cl, r.kcfg.ReplicationFactor, r.kcfg.CreateTopics, spec); err != nil {
		cl.Close()
		close(done)
		return done, fmt.Errorf("runs topic: %w", err)
	}
	go func() {
		defer close(done)
		defer cl.Close()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			r.apply(fs)
		}
	}()
	if err := r.catchUp(ctx); err != nil {
		return done, fmt.Errorf("restoring workflow runs from %s: %w", r.topic, err)
	}
	return done, nil
}

func (r *runs) apply(fs kgo.Fetches) {
	fs.EachError(func(t string, p int32, err error) {
		r.log.Warn("reading workflow runs", "topic", t, "partition", p, "err", err)
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	fs.EachRecord(func(rec *kgo.Record) {
		r.pos[rec.Partition] = rec.Offset + 1
		pid := string(rec.Key)
		if rec.Value == nil {
			r.put(pid, nil)
			return
		}
		var pr profileRuns
		if err := json.Unmarshal(rec.Value, &pr); err != nil {
			r.log.Warn("undecodable workflow runs skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
			return
		}
		if cur := r.byProfile[pid]; cur != nil && cur.Seq > pr.Seq {
			return // written through already
		}
		r.put(pid, &pr)
	})
}

// catchUp waits until the history is read up to the topic's current end:
// called before each batch, so that an instance taking over partitions
// decides on what the previous owner wrote.
func (r *runs) catchUp(ctx context.Context) error {
	ends, err := topicEnds(ctx, r.adm, r.topic)
	if err != nil {
		return err
	}
	for {
		r.mu.Lock()
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && r.pos[o.Partition] < o.Offset {
				ok = false
			}
		})
		r.mu.Unlock()
		if ok {
			return nil
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// decide says whether t may run wf: "" if so, else the reason (reentry,
// cooldown, capped). A transition that already has its run goes ahead.
func (r *runs) decide(wf *Workflow, t *schemas.MembershipTransition) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var past []run
	if pr := r.byProfile[t.ProfileID]; pr != nil {
		past = pr.Runs[wf.Name]
	}
	if slices.ContainsFunc(past, func(x run) bool { return x.ID == t.ID }) {
		return ""
	}
	switch wf.Reentry {
	case ReentryOnce:
		if len(past) > 0 {
			return "reentry"
		}
	case ReentryCooldown:
		if len(past) > 0 && t.EventTime < past[len(past)-1].At+wf.Cooldown.Milliseconds() {
			return "cooldown"
		}
	}
	if wf.CapMax > 0 {
		n := 0
		for _, x := range past {
			if x.At > t.EventTime-wf.CapPer.Milliseconds() && x.At <= t.EventTime {
				n++
			}
		}
		if n >= wf.CapMax {
			return "capped"
		}
	}
	return ""
}

// record writes t's run of wf and waits for the acknowledgement.
func (r *runs) record(ctx context.Context, wf *Workflow, t *schemas.MembershipTransition) error {
	err := r.update(ctx, t.ProfileID, func(next *profileRuns) bool {
		past := next.Runs[wf.Name]
		if slices.ContainsFunc(past, func(x run) bool { return x.ID == t.ID }) {
			return false
		}
		past = append(past, run{ID: t.ID, At: t.EventTime})
		slices.SortStableFunc(past, func(a, b run) int { return cmp.Compare(a.At, b.At) })
		// What a decision can still need: the last run, and those within
		// the cap's window of it.
		keep := 1
		if wf.CapMax > 0 {
			newest := past[len(past)-1].At
			keep = 0
			for _, x := range past {
				if x.At > newest-wf.CapPer.Milliseconds() {
					keep++
				}
			}
			keep = max(keep, 1)
		}
		next.Runs[wf.Name] = past[len(past)-min(keep, maxRunsKept, len(past)):]
		return true
	})
	if err != nil {
		return fmt.Errorf("recording run of workflow %s for transition %s: %w", wf.Name, t.ID, err)
	}
	return nil
}

// allowMessage counts a message (key: transition, workflow, action) against
// the cap of max per window ending at now; a key already counted (the same
// message after a crash) is allowed again.
func (r *runs) allowMessage(ctx context.Context, pid, key string, now time.Time, capMax int, per time.Duration) (bool, error) {
	allowed := false
	err := r.update(ctx, pid, func(next *profileRuns) bool {
		if slices.ContainsFunc(next.Sent, func(x run) bool { return x.ID == key }) {
			allowed = true
			return false
		}
		from := now.Add(-per).UnixMilli()
		next.Sent = slices.DeleteFunc(next.Sent, func(x run) bool { return x.At <= from })
		if len(next.Sent) >= capMax {
			return false
		}
		allowed = true
		next.Sent = append(next.Sent, run{ID: key, At: now.UnixMilli()})
		return true
	})
	return allowed, err
}

// update applies fn to a copy of a profile's state; if fn reports a change,
// the new state is written through and produced, and update waits for the
// acknowledgement. A state left empty is deleted (a tombstone).
func (r *runs) update(ctx context.Context, pid string, fn func(next *profileRuns) bool) error {
	r.mu.Lock()
	cur := r.byProfile[pid]
	next := &profileRuns{Runs: map[string][]run{}}
	if cur != nil {
		next.Seq = cur.Seq
		for k, v := range cur.Runs {
			next.Runs[k] = slices.Clone(v)
		}
		next.Pending = slices.Clone(cur.Pending)
		next.Sent = slices.Clone(cur.Sent)
	}
	if !fn(next) {
		r.mu.Unlock()
		return nil
	}
	next.Seq++
	// An emptied state is written as such, not as a tombstone, so that its
	// Seq still orders it against the write-through.
	val, err := json.Marshal(next)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("encoding workflow state: %w", err)
	}
	r.put(pid, next)
	r.mu.Unlock()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return r.cl.ProduceSync(pctx, &kgo.Record{Topic: r.topic, Key: []byte(pid), Value: val}).FirstErr()
}
