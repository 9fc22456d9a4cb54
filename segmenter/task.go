package segmenter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// task evaluates the segments for the profiles of one enriched partition.
type task struct {
	// mu is held while the task processes a record or ticks, and by the
	// admin profile view while it reads the task's state (see view.go).
	mu     sync.Mutex
	s      *Segmenter
	tp     stream.TopicPartition
	store  *stream.Store
	clock  *partitionClock
	timers *timerIndex
	ec     *evalCtx
	trs    []transition
	// scratch is the segment state being decided.
	scratch segmentState
	// lastEncoded is the last state written (its size guides the next).
	lastEncoded []byte

	// cache holds decoded profile states by store key, each with the
	// exact value slice it was decoded from: an entry is used only while
	// the store still holds that slice (the task is the store's only
	// writer; a restore or a rebuilt task starts afresh).
	cache map[string]cachedState
	// dirty holds the states changed since the last Tick (nil: deleted).
	dirty map[string]*profileState

	pending  int   // open timers (for the gauge)
	profiles int   // profiles with state (for the gauge)
	applied  int64 // last input offset applied (-1: none)
	offDirty bool
}

func newTask(s *Segmenter, tp stream.TopicPartition, store *stream.Store) *task {
	t := &task{s: s, tp: tp, store: store, clock: newPartitionClock(s.clock, s.now()), applied: -1, timers: newTimerIndex(),
		cache: map[string]cachedState{}, dirty: map[string]*profileState{}}
	t.ec = newEvalCtx(s.defs, func(p *predicate, err error) {
		s.m.predicateErrors.WithLabelValues(p.owner).Inc()
	})
	t.restore()
	s.register(t)
	return t
}

// restore rebuilds the timer index and counters from the store.
func (t *task) restore() {
	var corrupt int
	t.store.Range(func(key string, value []byte) bool {
		if key == offsetKey {
			// "offset" (older records) or "offset,maxEvent,lastArrival":
			// the partition's event clock, so that timers keep firing after
			// a restart before any new event arrives.
			f := strings.Split(string(value), ",")
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				t.applied = n
			}
			if len(f) == 3 {
				maxEvent, err1 := strconv.ParseInt(f[1], 10, 64)
				arrival, err2 := strconv.ParseInt(f[2], 10, 64)
				if err1 == nil && err2 == nil && maxEvent != noTime {
					t.clock.restore(maxEvent, arrival-maxEvent)
				}
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
		t.resweep(profile, 0, st)
		for name, ss := range st.Segments {
			if ss.Due != 0 {
				t.timers.set(profile, name, ss.Due)
				t.pending++
			}
		}
		return true
	})
	t.s.m.timersPending.Add(float64(t.pending))
	t.s.m.profiles.Add(float64(t.profiles))
	if corrupt > 0 {
		t.s.log.Error("profile states that cannot be decoded were skipped", "partition", t.tp.Partition, "count", corrupt)
	}
}

// Process implements stream.Task.
func (t *task) Process(ctx context.Context, rec *kgo.Record, out *stream.Output) error {
	t.mu.Lock()
	defer t.mu.Unlock()
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
	st, has, err := t.load(key)
	if err != nil {
		return fmt.Errorf("partition %d, profile state of %s: %w", t.tp.Partition, profile, err)
	}
	if !ev.Raw.Consent.Personalisation {
		t.s.m.ignored.WithLabelValues("no_consent").Inc()
		if has {
			return t.withdraw(key, profile, st, ev, out, now)
		}
		return nil
	}
	if !has {
		st = &profileState{}
	}
	idHash := eventHash(ev.Raw.EventID)
	if has && ev.Raw.EventID != "" && slices.Contains(st.Seen, idHash) {
		t.s.m.ignored.WithLabelValues("duplicate").Inc()
		return nil
	}
	sweep := st.sweepDue()
	t.ec.reset(ev)
	changed := updateProfile(t.ec, st)
	var members map[string]bool
	if t.s.defs.needs.profileSegments {
		if t.ec.members == nil {
			t.ec.members = map[string]bool{}
		}
		members = t.ec.members
		clear(members)
		for name, ss := range st.Segments {
			if ss.Member {
				members[name] = true
			}
		}
		t.ec.prof.Segments = members
	}
	for _, seg := range t.s.defs.order {
		cur := st.Segments[seg.Name]
		ss := &t.scratch // not a local: it would escape to the heap for every segment
		*ss = segmentState{}
		if cur != nil {
			*ss = *cur
		}
		before := *ss
		t.trs = t.trs[:0]
		// Timers that fell due before this event fire first (a window
		// rule's may fire several times: each expiry).
		for i := 0; ss.Due != 0 && seg.rule.firesBefore(ss.Due, ev.EventTime) && i <= maxWindowEvents; i++ {
			t.trs = seg.rule.onDue(ss, t.trs)
		}
		t.trs = seg.rule.onEvent(t.ec, ss, t.trs)
		ss.noteTransitions(t.trs)
		if !ss.equal(before) {
			changed = true
			t.setSegment(st, seg.Name, *ss, before.Due, profile)
		}
		if members != nil && ss.Member != before.Member {
			setMember(members, seg.Name, ss.Member)
		}
		for _, tr := range t.trs {
			if err := t.emit(out, seg.Name, profile, tr, ev.Raw.Consent, now); err != nil {
				return err
			}
		}
	}
	t.resweep(profile, sweep, st)
	if changed && ev.Raw.EventID != "" {
		st.Seen = append(st.Seen, idHash)
		if len(st.Seen) > maxSeen {
			st.Seen = st.Seen[len(st.Seen)-maxSeen:]
		}
	}
	if st.note(ev.Raw.EventID, ev.Raw.Type, ev.Raw.Event, ev.Raw.UserID, ev.Raw.AnonymousID, ev.EventTime, t.s.cfg.RecentEvents) {
		changed = true
	}
	if has && st.Consent != ev.Raw.Consent {
		changed = true
	}
	st.Consent = ev.Raw.Consent
	if changed {
		return t.save(key, st, has)
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
		if cur := st.Segments[name]; cur != nil {
			*cur = ss // the state is being changed to be saved: no copy
		} else {
			st.Segments[name] = &ss
		}
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
	}
	t.timers.set(profile, name, ss.Due)
}

// load returns a profile's state: the changed one of this batch, or the
// stored one.
func (t *task) load(key string) (st *profileState, has bool, err error) {
	if st, ok := t.dirty[key]; ok {
		return st, st != nil, nil
	}
	b, ok := t.store.Get(key)
	if !ok {
		return nil, false, nil
	}
	st, err = t.decode(key, b)
	return st, err == nil, err
}

// save records a profile's changed state, or its deletion: a profile in no
// segment, without timers and without traits keeps none. The store is
// written at the end of the batch (flush), each state encoded once however
// many of the batch's events changed it.
func (t *task) save(key string, st *profileState, had bool) error {
	switch {
	case st.empty() && had:
		t.dirty[key] = nil
		t.profiles--
		t.s.m.profiles.Dec()
	case st.empty():
	default:
		if !had {
			t.profiles++
			t.s.m.profiles.Inc()
		}
		t.dirty[key] = st
	}
	return nil
}

// flush writes the batch's changed states to the store (and so to its
// changelog, committed by the runner with the batch's outputs).
func (t *task) flush() error {
	for key, st := range t.dirty {
		if st == nil {
			t.store.Delete(key)
			delete(t.cache, key)
			continue
		}
		b, err := encodeState(st, len(t.lastEncoded)+len(t.lastEncoded)/4+64)
		if err != nil {
			return fmt.Errorf("partition %d, %s: %w", t.tp.Partition, key, err)
		}
		t.store.Put(key, b)
		t.remember(key, b, st)
		t.lastEncoded = b
	}
	clear(t.dirty)
	return nil
}

// maxCachedStates bounds a task's cache of decoded profile states.
const maxCachedStates = 20_000

type cachedState struct {
	b  []byte
	st *profileState
}

// decode returns the profile state stored as b under key, from the cache
// when it was decoded from this very slice. The caller may change the
// state only to save it.
func (t *task) decode(key string, b []byte) (*profileState, error) {
	if c, ok := t.cache[key]; ok && len(c.b) == len(b) && len(b) > 0 && &c.b[0] == &b[0] {
		return c.st, nil
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, err
	}
	t.remember(key, b, st)
	return st, nil
}

func (t *task) remember(key string, b []byte, st *profileState) {
	if _, ok := t.cache[key]; !ok && len(t.cache) >= maxCachedStates {
		for k := range t.cache { // evict one, at random
			delete(t.cache, k)
			break
		}
	}
	t.cache[key] = cachedState{b, st}
}

// withdraw handles an event without personalisation consent for a profile
// with state: it leaves every segment and its state is deleted.
func (t *task) withdraw(key, profile string, st *profileState, ev *schemas.EnrichedEvent, out *stream.Output, now time.Time) error {
	for _, seg := range t.s.defs.Segments {
		ss := st.Segments[seg.Name]
		if ss == nil {
			continue
		}
		if ss.Due != 0 {
			t.pending--
			t.s.m.timersPending.Dec()
			t.timers.set(profile, seg.Name, 0)
		}
		if ss.Member {
			tr := transition{kind: schemas.Exited, cause: ev.Raw.EventID, key: "consent:" + ev.Raw.EventID,
				reason: "personalisation consent withdrawn", at: ev.EventTime}
			if err := t.emit(out, seg.Name, profile, tr, ev.Raw.Consent, now); err != nil {
				return err
			}
		}
	}
	t.timers.set(profile, "", 0)
	t.dirty[key] = nil
	t.profiles--
	t.s.m.profiles.Dec()
	return nil
}

// Tick implements stream.Task: it fires the timers the watermark passed.
func (t *task) Tick(_ context.Context, now time.Time, out *stream.Output) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	wm := t.clock.watermark(now)
	for {
		tm, ok := t.timers.next(wm)
		if !ok {
			break
		}
		if err := t.fire(tm, out, now); err != nil {
			return err
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if t.offDirty {
		t.store.Put(offsetKey, []byte(strconv.FormatInt(t.applied, 10)+","+
			strconv.FormatInt(t.clock.maxEvent, 10)+","+strconv.FormatInt(t.clock.arrivalMs, 10)))
		t.offDirty = false
	}
	return nil
}

func (t *task) fire(tm timer, out *stream.Output, now time.Time) error {
	key := profilePrefix + tm.profile
	st, ok, err := t.load(key)
	if err != nil {
		return fmt.Errorf("partition %d, profile state of %s: %w", t.tp.Partition, tm.profile, err)
	}
	if !ok {
		return nil // stale: the profile's state is gone
	}
	sweep := st.sweepDue()
	if tm.segment == "" { // the profile's sweep
		if !st.sweep(tm.due) {
			if d := st.sweepDue(); d > tm.due {
				t.timers.set(tm.profile, "", d) // (defensive: a later expiry is always indexed already)
			}
			return nil
		}
		t.resweep(tm.profile, -1, st)
		return t.save(key, st, true)
	}
	cur := st.Segments[tm.segment]
	seg, defined := t.s.defs.Segment(tm.segment)
	if cur == nil || cur.Due != tm.due || !defined {
		return nil // stale: cancelled, moved, or the segment is no longer defined
	}
	ss, wasMember := *cur, cur.Member
	t.trs = seg.rule.onDue(&ss, t.trs[:0])
	ss.noteTransitions(t.trs)
	t.setSegment(st, tm.segment, ss, tm.due, tm.profile)
	for _, tr := range t.trs {
		if err := t.emit(out, tm.segment, tm.profile, tr, st.Consent, now); err != nil {
			return err
		}
	}
	if len(t.trs) > 0 && ss.Member != wasMember && t.s.defs.needs.profileSegments {
		if err := t.follow(st, tm.profile, tm.segment, t.trs[len(t.trs)-1], out, now); err != nil {
			return err
		}
	}
	t.resweep(tm.profile, sweep, st)
	return t.save(key, st, true)
}

// resweep sets the profile's sweep timer (segment "" in the index) after
// its state changed from one whose sweep was due at old (-1: unknown).
func (t *task) resweep(profile string, old int64, st *profileState) {
	if due := st.sweepDue(); due != old {
		t.timers.set(profile, "", due)
	}
}

// follow decides the in_segments segments again after a timer changed the
// membership of segment causeSeg (on events they are decided in order).
func (t *task) follow(st *profileState, profile, causeSeg string, cause transition, out *stream.Output, now time.Time) error {
	members := make(map[string]bool, len(st.Segments))
	for name, ss := range st.Segments {
		if ss.Member {
			members[name] = true
		}
	}
	for _, seg := range t.s.defs.order {
		r, ok := seg.rule.(*membershipRule)
		if !ok {
			continue
		}
		var ss segmentState
		if cur := st.Segments[seg.Name]; cur != nil {
			ss = *cur
		}
		tr, changed := r.follow(&ss, members, causeSeg, cause)
		if !changed {
			continue
		}
		ss.noteTransitions([]transition{tr})
		t.setSegment(st, seg.Name, ss, 0, profile)
		setMember(members, seg.Name, ss.Member)
		if err := t.emit(out, seg.Name, profile, tr, st.Consent, now); err != nil {
			return err
		}
	}
	return nil
}

func setMember(members map[string]bool, name string, in bool) {
	if in {
		members[name] = true
	} else {
		delete(members, name)
	}
}

// eventHash is the hash of an event id kept in profileState.Seen.
func eventHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
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
	t.s.unregister(t)
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
