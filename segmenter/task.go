package segmenter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// task evaluates the segments for the profiles of one enriched partition.
type task struct {
	s      *Segmenter
	tp     stream.TopicPartition
	store  *stream.Store
	clock  *partitionClock
	timers timerHeap
	ec     *evalCtx
	trs    []transition

	pending  int   // open timers (for the gauge)
	profiles int   // profiles with state (for the gauge)
	applied  int64 // last input offset applied (-1: none)
	offDirty bool
}

func newTask(s *Segmenter, tp stream.TopicPartition, store *stream.Store) *task {
	t := &task{s: s, tp: tp, store: store, clock: newPartitionClock(s.clock, s.now()), applied: -1}
	t.ec = newEvalCtx(s.defs, func(p *predicate, err error) {
		s.m.predicateErrors.WithLabelValues(p.owner).Inc()
	})
	t.restore()
	return t
}

// restore rebuilds the timer index and counters from the store.
func (t *task) restore() {
	var corrupt int
	t.store.Range(func(key string, value []byte) bool {
		if key == offsetKey {
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				t.applied = n
			}
			return true
		}
		profile, ok := strings.CutPrefix(key, profilePrefix)
		if !ok {
			return true
		}
		st, err := decodeState(value)
		if err != nil {
			corrupt++
			return true
		}
		t.profiles++
		for name, ss := range st.Segments {
			if ss.Due != 0 {
				t.timers = append(t.timers, timer{due: ss.Due, profile: profile, segment: name})
			}
		}
		return true
	})
	initTimers(&t.timers)
	t.pending = len(t.timers)
	t.s.m.timersPending.Add(float64(t.pending))
	t.s.m.profiles.Add(float64(t.profiles))
	if corrupt > 0 {
		t.s.log.Error("profile states that cannot be decoded were skipped", "partition", t.tp.Partition, "count", corrupt)
	}
}

// Process implements stream.Task.
func (t *task) Process(ctx context.Context, rec *kgo.Record, out *stream.Output) error {
	if rec.Offset <= t.applied {
		t.s.m.replayed.Inc()
		return nil
	}
	t.applied, t.offDirty = rec.Offset, true
	t.s.m.eventsIn.Inc()
	now := t.s.now()
	ev, err := t.s.serde.DecodeEnriched(ctx, rec.Value)
	if err != nil {
		return t.fail(rec, out, "undecodable", err, now)
	}
	return t.apply(rec, ev, out, now)
}

// apply evaluates one decoded event.
func (t *task) apply(rec *kgo.Record, ev *schemas.EnrichedEvent, out *stream.Output, now time.Time) error {
	if t.clock.observe(ev.EventTime, now) {
		t.s.m.late.Inc()
	}
	if ev.Bot {
		t.s.m.ignored.WithLabelValues("bot").Inc()
		return nil
	}
	profile := ev.ProfileID
	if profile == "" {
		profile = string(rec.Key)
	}
	if profile == "" {
		t.s.m.ignored.WithLabelValues("no_profile").Inc()
		return nil
	}
	key := profilePrefix + profile
	old, has := t.store.Get(key)
	if !ev.Raw.Consent.Personalisation {
		t.s.m.ignored.WithLabelValues("no_consent").Inc()
		if has {
			return t.withdraw(key, profile, old, ev, out, now)
		}
		return nil
	}
	st := &profileState{}
	if has {
		var err error
		if st, err = decodeState(old); err != nil {
			return fmt.Errorf("partition %d, profile state of %s: %w", t.tp.Partition, profile, err)
		}
	}
	t.ec.reset(ev)
	changed := false
	for _, seg := range t.s.defs.Segments {
		cur := st.Segments[seg.Name]
		var ss segmentState
		if cur != nil {
			ss = *cur
		}
		before := ss
		t.trs = t.trs[:0]
		if ss.Due != 0 && ss.Due <= ev.EventTime {
			t.trs = seg.rule.onDue(&ss, t.trs) // the window closed before this event
		}
		t.trs = seg.rule.onEvent(t.ec, &ss, t.trs)
		if !ss.equal(before) {
			changed = true
			t.setSegment(st, seg.Name, ss, before.Due, profile)
		}
		for _, tr := range t.trs {
			if err := t.emit(out, seg.Name, profile, tr, ev.Raw.Consent, now); err != nil {
				return err
			}
		}
	}
	if has && st.Consent != ev.Raw.Consent {
		changed = true
	}
	st.Consent = ev.Raw.Consent
	if changed {
		t.save(key, st, has)
	}
	return nil
}

// setSegment stores a segment's new state and keeps the timer index in step.
func (t *task) setSegment(st *profileState, name string, ss segmentState, oldDue int64, profile string) {
	if ss.isZero() {
		delete(st.Segments, name)
	} else {
		if st.Segments == nil {
			st.Segments = map[string]*segmentState{}
		}
		st.Segments[name] = &ss
	}
	if ss.Due == oldDue {
		return
	}
	if oldDue != 0 {
		t.pending--
		t.s.m.timersPending.Dec()
	}
	if ss.Due != 0 {
		t.pending++
		t.s.m.timersPending.Inc()
		t.timers.add(timer{due: ss.Due, profile: profile, segment: name})
	}
}

// save writes or deletes a profile's state: a profile in no segment and
// without timers keeps none.
func (t *task) save(key string, st *profileState, had bool) {
	switch {
	case st.empty() && had:
		t.store.Delete(key)
		t.profiles--
		t.s.m.profiles.Dec()
	case st.empty():
	default:
		if !had {
			t.profiles++
			t.s.m.profiles.Inc()
		}
		t.store.Put(key, encodeState(st))
	}
}

// withdraw handles an event without personalisation consent for a profile
// with state: it leaves every segment and its state is deleted.
func (t *task) withdraw(key, profile string, old []byte, ev *schemas.EnrichedEvent, out *stream.Output, now time.Time) error {
	st, err := decodeState(old)
	if err != nil {
		return fmt.Errorf("partition %d, profile state of %s: %w", t.tp.Partition, profile, err)
	}
	for _, seg := range t.s.defs.Segments {
		ss := st.Segments[seg.Name]
		if ss == nil {
			continue
		}
		if ss.Due != 0 {
			t.pending--
			t.s.m.timersPending.Dec()
		}
		if ss.Member {
			tr := transition{kind: schemas.Exited, cause: ev.Raw.EventID, key: "consent:" + ev.Raw.EventID,
				reason: "personalisation consent withdrawn", at: ev.EventTime}
			if err := t.emit(out, seg.Name, profile, tr, ev.Raw.Consent, now); err != nil {
				return err
			}
		}
	}
	t.store.Delete(key)
	t.profiles--
	t.s.m.profiles.Dec()
	return nil
}

// Tick implements stream.Task: it fires the timers the watermark passed.
func (t *task) Tick(_ context.Context, now time.Time, out *stream.Output) error {
	wm := t.clock.watermark(now)
	for {
		tm, ok := t.timers.popDue(wm)
		if !ok {
			break
		}
		if err := t.fire(tm, out, now); err != nil {
			return err
		}
	}
	if t.offDirty {
		t.store.Put(offsetKey, []byte(strconv.FormatInt(t.applied, 10)))
		t.offDirty = false
	}
	return nil
}

func (t *task) fire(tm timer, out *stream.Output, now time.Time) error {
	key := profilePrefix + tm.profile
	old, ok := t.store.Get(key)
	if !ok {
		return nil // stale: the profile's state is gone
	}
	st, err := decodeState(old)
	if err != nil {
		return fmt.Errorf("partition %d, profile state of %s: %w", t.tp.Partition, tm.profile, err)
	}
	cur := st.Segments[tm.segment]
	seg, defined := t.s.defs.Segment(tm.segment)
	if cur == nil || cur.Due != tm.due || !defined {
		return nil // stale: cancelled, moved, or the segment is no longer defined
	}
	ss := *cur
	t.trs = seg.rule.onDue(&ss, t.trs[:0])
	t.setSegment(st, tm.segment, ss, tm.due, tm.profile)
	for _, tr := range t.trs {
		if err := t.emit(out, tm.segment, tm.profile, tr, st.Consent, now); err != nil {
			return err
		}
	}
	t.save(key, st, true)
	return nil
}

// emit produces one membership transition.
func (t *task) emit(out *stream.Output, segment, profile string, tr transition, consent schemas.Consent, now time.Time) error {
	mt := schemas.MembershipTransition{
		ID:           TransitionID(segment, profile, tr.kind, tr.key),
		Segment:      segment,
		ProfileID:    profile,
		Transition:   tr.kind,
		CauseEventID: tr.cause,
		Reason:       tr.reason,
		EventTime:    tr.at,
		EvaluatedAt:  now.UnixMilli(),
		Consent:      consent,
	}
	val, err := t.s.serde.Encode(schemas.KindMembership, &mt, nil)
	if err != nil {
		return fmt.Errorf("segment %s, profile %s: %w", segment, profile, err)
	}
	out.Produce(&kgo.Record{Topic: t.s.topic.Membership, Key: []byte(profile), Value: val})
	t.s.m.transitions.WithLabelValues(segment, string(tr.kind)).Inc()
	return nil
}

// fail sends an input the segmenter cannot read to the failed topic.
func (t *task) fail(rec *kgo.Record, out *stream.Output, reason string, cause error, now time.Time) error {
	t.s.m.failed.Inc()
	f := schemas.FailedEvent{
		ID:              hashID("segmenter", rec.Topic, strconv.Itoa(int(rec.Partition)), strconv.FormatInt(rec.Offset, 10)),
		Stage:           "segmenter",
		Reason:          reason,
		Detail:          cause.Error(),
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		Payload:         rec.Value,
		FailedAt:        now.UnixMilli(),
	}
	val, err := t.s.serde.Encode(schemas.KindFailed, &f, nil)
	if err != nil {
		return fmt.Errorf("encoding failed record for %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	out.Produce(&kgo.Record{Topic: t.s.topic.Failed, Key: rec.Key, Value: val})
	return nil
}

// Close implements stream.Task.
func (t *task) Close() error {
	t.s.m.timersPending.Sub(float64(t.pending))
	t.s.m.profiles.Sub(float64(t.profiles))
	t.pending, t.profiles = 0, 0
	return nil
}

// TransitionID is the deterministic id of a transition: the same segment,
// profile, transition and cause (an event id, or a timer's deadline and
// opening event) always give the same id.
func TransitionID(segment, profile string, tr schemas.Transition, cause string) string {
	return hashID(segment, profile, string(tr), cause)
}

func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
