package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

// QuietHoursSpec: messages (email, webhook) due between Start and End
// (HH:MM, End may be past midnight) in the profile's time zone wait until
// End. TimeZone is used when the profile's is not known.
type QuietHoursSpec struct {
	Start    string `yaml:"start"`
	End      string `yaml:"end"`
	TimeZone string `yaml:"time_zone"`
}

// QuietHours is a validated QuietHoursSpec; times are minutes after midnight.
type QuietHours struct {
	Start, End int
	Default    *time.Location
}

func validateQuietHours(s QuietHoursSpec) (*QuietHours, []error) {
	var errs []error
	q := &QuietHours{}
	parse := func(field, v string) int {
		t, err := time.Parse("15:04", v)
		if err != nil {
			errs = append(errs, fmt.Errorf("quiet_hours.%s: %q, want HH:MM", field, v))
			return 0
		}
		return t.Hour()*60 + t.Minute()
	}
	q.Start, q.End = parse("start", s.Start), parse("end", s.End)
	if len(errs) == 0 && q.Start == q.End {
		errs = append(errs, errors.New("quiet_hours: start and end are equal"))
	}
	loc, err := time.LoadLocation(s.TimeZone)
	switch {
	case s.TimeZone == "":
		errs = append(errs, errors.New("quiet_hours.time_zone: required (used when the profile's is not known)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("quiet_hours.time_zone: %v", err))
	}
	q.Default = loc
	return q, errs
}

// until returns the end of the quiet hours now falls in, in loc, or false
// if now is not in quiet hours.
func (q *QuietHours) until(now time.Time, loc *time.Location) (time.Time, bool) {
	l := now.In(loc)
	m := l.Hour()*60 + l.Minute()
	in := q.Start < q.End && m >= q.Start && m < q.End ||
		q.Start > q.End && (m >= q.Start || m < q.End)
	if !in {
		return time.Time{}, false
	}
	end := time.Date(l.Year(), l.Month(), l.Day(), q.End/60, q.End%60, 0, 0, loc)
	if !end.After(l) {
		end = end.AddDate(0, 0, 1)
	}
	return end, true
}

// pendingStep is a run waiting: at Due (wall clock, Unix ms) it goes on
// with action Next. T is its transition, P and O where it was read.
type pendingStep struct {
	Workflow string         `json:"wf"`
	Next     int            `json:"next"`
	Due      int64          `json:"due"`
	T        pendingTrigger `json:"t"`
	// Until is the transition a wait_for waits for; Arrived says it came
	// (the step is then due at once).
	Until   *Trigger `json:"until,omitempty"`
	Arrived bool     `json:"arrived,omitempty"`
}

type pendingTrigger struct {
	ID          string          `json:"id"`
	Segment     string          `json:"segment"`
	Transition  string          `json:"transition"`
	Reason      string          `json:"reason,omitempty"`
	EventTime   int64           `json:"event_time"`
	EvaluatedAt int64           `json:"evaluated_at"`
	Consent     schemas.Consent `json:"consent"`
	P           int32           `json:"p"`
	O           int64           `json:"o"`
}

func (p pendingStep) same(q pendingStep) bool {
	return p.Workflow == q.Workflow && p.T.ID == q.T.ID && p.Next == q.Next
}

func (p pendingTrigger) transition(pid string) *schemas.MembershipTransition {
	return &schemas.MembershipTransition{ID: p.ID, Segment: p.Segment, ProfileID: pid, Transition: schemas.Transition(p.Transition),
		Reason: p.Reason, EventTime: p.EventTime, EvaluatedAt: p.EvaluatedAt, Consent: p.Consent}
}

// exits reports whether transition t ends wf's waiting runs: the trigger
// segment left (for an entry trigger) or entered (for an exit trigger), or
// one of wf's exit_on transitions.
func (wf *Workflow) exits(t *schemas.MembershipTransition) bool {
	if t.Segment == wf.Segment && t.Transition != wf.On {
		return true
	}
	return slices.ContainsFunc(wf.ExitOn, func(e Trigger) bool { return e.Segment == t.Segment && e.On == t.Transition })
}

// runFrom runs wf's actions from index from for t, with the given consent,
// until the end or a wait: then it returns the step to resume (the caller
// makes it durable).
func (c *Consumer) runFrom(ctx context.Context, rec *kgo.Record, t *schemas.MembershipTransition, wf *Workflow, from int, consent schemas.Consent, arrived bool, produce func(context.Context, *kgo.Record) error) (*pendingStep, error) {
	pend := func(next int, due time.Time) *pendingStep {
		return &pendingStep{Workflow: wf.Name, Next: next, Due: due.UnixMilli(), T: pendingTrigger{
			ID: t.ID, Segment: t.Segment, Transition: string(t.Transition), Reason: t.Reason, EventTime: t.EventTime,
			EvaluatedAt: t.EvaluatedAt, Consent: t.Consent, P: rec.Partition, O: rec.Offset}}
	}
	for i := from; i < len(wf.Actions); i++ {
		a := wf.Actions[i]
		switch {
		case a.WaitFor != nil:
			p := pend(i+1, c.now().Add(a.Wait))
			p.Until = a.WaitFor
			return p, nil
		case a.Wait > 0:
			return pend(i+1, c.now().Add(a.Wait)), nil
		case a.Goto > 0:
			i = a.Goto - 1
			continue
		case a.Branch != nil:
			var traits map[string]string
			if c.contacts != nil {
				traits = c.contacts.get(t.ProfileID)
			}
			ok, err := a.Branch.eval(traits, consent, arrived, t)
			switch {
			case err != nil:
				c.m.branches.WithLabelValues("error").Inc()
				c.log.Debug("branch predicate failed: taken as false", "workflow", wf.Name, "action", i, "err", err)
			case ok:
				c.m.branches.WithLabelValues("then").Inc()
			default:
				c.m.branches.WithLabelValues("else").Inc()
			}
			if !ok {
				i = a.Branch.Else - 1
			}
			continue
		}
		if wf.Quiet != nil && (a.Email != nil || a.Webhook != nil) {
			if end, quiet := wf.Quiet.until(c.now(), c.timeZone(t.ProfileID, wf.Quiet.Default)); quiet {
				c.m.actions.WithLabelValues(a.Kind(), "quiet_hours").Inc()
				return pend(i, end), nil
			}
		}
		if !consent.Get(a.Consent()) {
			c.m.actions.WithLabelValues(a.Kind(), "no_consent").Inc()
			continue
		}
		if c.cfg.MessageCap > 0 && (a.Email != nil || a.Webhook != nil) {
			ok, err := c.runs.allowMessage(ctx, t.ProfileID, fmt.Sprintf("%s\x00%s\x00%d", t.ID, wf.Name, i), c.now(),
				c.cfg.MessageCap, c.cfg.MessageCapPer)
			if err != nil {
				return nil, fmt.Errorf("workflow %s: counting a message against the cap: %w", wf.Name, err)
			}
			if !ok {
				c.m.actions.WithLabelValues(a.Kind(), "capped").Inc()
				continue
			}
		}
		if err := c.runAction(ctx, rec, t, wf, i, a, produce); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (c *Consumer) timeZone(pid string, def *time.Location) *time.Location {
	if c.contacts != nil {
		if tz := c.contacts.timeZone(pid); tz != "" {
			if loc, err := time.LoadLocation(tz); err == nil {
				return loc
			}
		}
	}
	return def
}

// addPending makes a waiting step durable.
func (c *Consumer) addPending(ctx context.Context, pid string, p *pendingStep) error {
	err := c.runs.update(ctx, pid, func(next *profileRuns) bool {
		if slices.ContainsFunc(next.Pending, p.same) {
			return false
		}
		next.Pending = append(next.Pending, *p)
		return true
	})
	if err != nil {
		return fmt.Errorf("workflow %s: recording a wait for transition %s: %w", p.Workflow, p.T.ID, err)
	}
	return nil
}

// exitPending ends the waiting runs t exits.
func (c *Consumer) exitPending(ctx context.Context, t *schemas.MembershipTransition) error {
	n := 0
	err := c.runs.update(ctx, t.ProfileID, func(next *profileRuns) bool {
		kept := next.Pending[:0]
		for _, p := range next.Pending {
			if wf := c.byName[p.Workflow]; wf != nil && wf.exits(t) {
				n++
				continue
			}
			kept = append(kept, p)
		}
		next.Pending = kept
		return n > 0
	})
	if err != nil {
		return fmt.Errorf("ending waits on transition %s: %w", t.ID, err)
	}
	if n > 0 {
		c.m.runs.WithLabelValues("exited").Add(float64(n))
		c.log.Debug("waiting workflows exited", "transition", t.ID, "segment", t.Segment, "runs", n)
	}
	return nil
}

// arrivals makes due at once the wait_for steps that t ends.
func (c *Consumer) arrivals(ctx context.Context, t *schemas.MembershipTransition) error {
	now := c.now().UnixMilli()
	err := c.runs.update(ctx, t.ProfileID, func(next *profileRuns) bool {
		changed := false
		for i, p := range next.Pending {
			if p.Until != nil && !p.Arrived && p.Until.Segment == t.Segment && p.Until.On == t.Transition {
				next.Pending[i].Arrived, next.Pending[i].Due, changed = true, now, true
			}
		}
		return changed
	})
	if err != nil {
		return fmt.Errorf("ending waits for transition %s: %w", t.ID, err)
	}
	return nil
}

// fireDue resumes the waiting steps that are due, of the profiles whose
// membership partition this consumer owns. Called between polls, so the
// partitions cannot move meanwhile.
func (c *Consumer) fireDue(ctx context.Context, owns func(pid string) bool, produce func(context.Context, *kgo.Record) error) error {
	now := c.now().UnixMilli()
	type item struct {
		pid string
		p   pendingStep
	}
	var due []item
	c.runs.mu.Lock()
	for pid := range c.runs.withPending {
		for _, p := range c.runs.byProfile[pid].Pending {
			if p.Due <= now && owns(pid) {
				due = append(due, item{pid, p})
			}
		}
	}
	c.runs.mu.Unlock()
	slices.SortFunc(due, func(a, b item) int { return cmp.Compare(a.p.Due, b.p.Due) })
	for _, d := range due {
		if ctx.Err() != nil {
			return nil
		}
		var next *pendingStep
		if wf := c.byName[d.p.Workflow]; wf == nil {
			c.log.Warn("a waiting run's workflow is no longer defined: dropped", "workflow", d.p.Workflow, "transition", d.p.T.ID)
		} else {
			t := d.p.T.transition(d.pid)
			consent := t.Consent
			if c.contacts != nil {
				if cur, ok := c.contacts.consent(d.pid); ok {
					consent = and(consent, cur) // withdrawn since the transition: withdrawn
				}
			}
			val, err := c.serde.Encode(schemas.KindMembership, t, nil)
			if err != nil {
				return fmt.Errorf("encoding transition %s: %w", t.ID, err)
			}
			rec := &kgo.Record{Topic: c.topics.Membership, Partition: d.p.T.P, Offset: d.p.T.O, Key: []byte(d.pid), Value: val}
			c.m.resumed.Inc()
			if next, err = c.runFrom(ctx, rec, t, wf, d.p.Next, consent, d.p.Arrived, produce); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		err := c.runs.update(ctx, d.pid, func(st *profileRuns) bool {
			i := slices.IndexFunc(st.Pending, d.p.same)
			if i < 0 {
				return false
			}
			st.Pending = slices.Delete(st.Pending, i, i+1)
			if next != nil && !slices.ContainsFunc(st.Pending, next.same) {
				st.Pending = append(st.Pending, *next)
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("workflow %s: recording the step after a wait: %w", d.p.Workflow, err)
		}
	}
	return nil
}

func and(a, b schemas.Consent) schemas.Consent {
	return schemas.Consent{Necessary: a.Necessary && b.Necessary, Analytics: a.Analytics && b.Analytics,
		Personalisation: a.Personalisation && b.Personalisation, Marketing: a.Marketing && b.Marketing,
		Advertising: a.Advertising && b.Advertising}
}
