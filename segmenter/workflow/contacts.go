package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/enricher/identity"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/schemas"
)

// Limits of what the contact directory keeps per profile.
const (
	maxTraits      = 64
	maxTraitKey    = 128
	maxTraitValue  = 1024
	catchUpTimeout = 10 * time.Second
)

// contact is what the workflows know of a profile: its traits, merged from
// every event that carried some (identify traits, context.traits), latest
// value per trait. P and O are the enriched partition and offset of the
// last event applied: a profile's events are in one partition, in order.
type contact struct {
	Traits map[string]string `json:"traits"`
	// UserID and AnonymousID are the profile's identifiers as last seen,
	// Consent its latest consent and TimeZone its geo time zone (kept only
	// when a workflow emits events or waits: to emit as the profile, and to
	// re-check consent and place quiet hours after a wait).
	UserID      string           `json:"uid,omitempty"`
	AnonymousID string           `json:"aid,omitempty"`
	Consent     *schemas.Consent `json:"consent,omitempty"`
	TimeZone    string           `json:"tz,omitempty"`
	P           int32            `json:"p"`
	O           int64            `json:"o"`
}

// contacts is the contact directory the e-mail action reads addresses
// from. A feed (consumer group <workflow group>.contacts on the enriched
// topic) extracts traits and writes each change to a compacted topic keyed
// by profile id (<prefix>workflow.contacts.changelog); every instance reads
// that topic whole into memory (a global table), restored at start before
// any transition is handled. Profile building needs personalisation
// consent, as in the segmenter: an event without it deletes the profile's
// contact (a tombstone).
type contacts struct {
	kcfg   kafka.Config
	log    *slog.Logger
	serde  *schemas.Serde
	source string // the enriched topic
	topic  string // the compacted contacts topic
	group  string
	ids    bool // keep identifiers, consent and time zone too
	now    func() time.Time
	m      *metrics

	mu        sync.Mutex
	byProfile map[string]*contact
	fed       map[int32]int64 // feed: enriched partition → next offset applied here
	tablePos  map[int32]int64 // table: contacts partition → next offset applied
	caughtUp  time.Time       // start of the last complete catch-up
	ready     atomic.Bool
	feedReady atomic.Bool
	adm       *kadm.Client
}

func newContacts(kcfg kafka.Config, log *slog.Logger, serde *schemas.Serde, topics kafka.Topics, group string, now func() time.Time, m *metrics) *contacts {
	return &contacts{
		kcfg: kcfg, log: log, serde: serde, source: topics.Enriched, topic: kcfg.Changelog("workflow", "contacts"),
		group: group + ".contacts", now: now, m: m,
		byProfile: map[string]*contact{}, fed: map[int32]int64{}, tablePos: map[int32]int64{},
	}
}

// Ready reports whether the table is restored and the feed is consuming.
func (c *contacts) Ready() bool { return c.ready.Load() && c.feedReady.Load() }

// start ensures the topic and restores the table; then the table and the
// feed run until ctx ends. The returned channel yields their end.
func (c *contacts) start(ctx context.Context) (<-chan error, error) {
	table, err := kgo.NewClient(append(c.kcfg.Opts("workflow-contacts"),
		kgo.ConsumeTopics(c.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, fmt.Errorf("contacts: kafka client: %w", err)
	}
	c.adm = kadm.NewClient(table)
	spec := kafka.TopicSpec{Name: c.topic, Partitions: c.kcfg.Partitions, Compacted: true}
	if err := kafka.EnsureTopics(ctx, table, c.kcfg.ReplicationFactor, c.kcfg.CreateTopics, spec); err != nil {
		table.Close()
		return nil, fmt.Errorf("contacts topic: %w", err)
	}
	start := c.now()
	if err := c.tableCatchUp(ctx, table); err != nil {
		table.Close()
		return nil, fmt.Errorf("restoring contacts from %s: %w", c.topic, err)
	}
	c.ready.Store(true)
	c.mu.Lock()
	n := len(c.byProfile)
	c.mu.Unlock()
	c.log.Info("contact directory restored", "topic", c.topic, "profiles", n, "took", c.now().Sub(start).Round(time.Millisecond))

	done := make(chan error, 2)
	go func() {
		defer table.Close()
		for {
			fs := table.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				done <- nil
				return
			}
			c.applyTable(fs)
		}
	}()
	go func() { done <- c.feed(ctx) }()
	out := make(chan error, 1)
	go func() {
		err := <-done
		if err == nil {
			err = <-done
		}
		out <- err
	}()
	return out, nil
}

// tableCatchUp reads the contacts topic up to its current end.
func (c *contacts) tableCatchUp(ctx context.Context, table *kgo.Client) error {
	ends, err := topicEnds(ctx, c.adm, c.topic)
	if err != nil {
		return err
	}
	for !c.tableAt(ends) {
		fs := table.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.IsClientClosed() {
			return errors.New("client closed")
		}
		c.applyTable(fs)
	}
	return nil
}

func (c *contacts) tableAt(ends kadm.ListedOffsets) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 && c.tablePos[o.Partition] < o.Offset {
			ok = false
		}
	})
	return ok
}

func (c *contacts) applyTable(fs kgo.Fetches) {
	fs.EachError(func(t string, p int32, err error) {
		c.log.Warn("reading contacts", "topic", t, "partition", p, "err", err)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) {
		c.tablePos[r.Partition] = r.Offset + 1
		pid := string(r.Key)
		if r.Value == nil {
			delete(c.byProfile, pid)
			return
		}
		var ct contact
		if err := json.Unmarshal(r.Value, &ct); err != nil {
			c.log.Warn("undecodable contact skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
			return
		}
		// The feed wrote newer state through already: keep it.
		if cur := c.byProfile[pid]; cur != nil && cur.P == ct.P && cur.O > ct.O {
			return
		}
		c.byProfile[pid] = &ct
	})
	c.m.contacts.Set(float64(len(c.byProfile)))
}

// feed consumes the enriched topic and writes contact changes; offsets are
// committed once the changes are acknowledged (at least once: a change
// written twice is the same value).
func (c *contacts) feed(ctx context.Context) error {
	cl, err := kgo.NewClient(append(c.kcfg.ProducerOpts("workflow-contacts-feed"),
		kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(c.source),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
	)...)
	if err != nil {
		return fmt.Errorf("contacts feed: kafka client: %w", err)
	}
	defer cl.Close()
	c.feedReady.Store(true)
	defer c.feedReady.Store(false)
	for {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil || fs.IsClientClosed() {
			cl.AllowRebalance()
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			c.log.Warn("contacts feed: fetching", "topic", t, "partition", p, "err", err)
		})
		var out []*kgo.Record
		pos := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			if rec := c.applyEvent(ctx, r); rec != nil {
				out = append(out, rec)
			}
		})
		for len(out) > 0 {
			err := cl.ProduceSync(ctx, out...).FirstErr()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				cl.AllowRebalance()
				return nil
			}
			c.log.Warn("contacts feed: producing", "topic", c.topic, "err", err)
			time.Sleep(time.Second)
		}
		c.mu.Lock()
		for p, o := range pos {
			c.fed[p] = o
		}
		c.mu.Unlock()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			c.log.Warn("contacts feed: committing offsets", "err", err)
		}
		cancel()
		cl.AllowRebalance()
	}
}

// applyEvent folds one enriched event into the directory (write-through)
// and returns the record to write, if anything changed.
func (c *contacts) applyEvent(ctx context.Context, r *kgo.Record) *kgo.Record {
	ev, err := c.serde.DecodeEnriched(ctx, r.Value)
	if err != nil {
		c.m.contactEvents.WithLabelValues("undecodable").Inc()
		return nil
	}
	if ev.Bot || ev.ProfileID == "" {
		return nil
	}
	pid := ev.ProfileID
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.byProfile[pid]
	if !ev.Raw.Consent.Personalisation {
		if cur == nil {
			return nil
		}
		delete(c.byProfile, pid)
		c.m.contactEvents.WithLabelValues("deleted").Inc()
		return &kgo.Record{Topic: c.topic, Key: []byte(pid)}
	}
	traits := eventTraits(ev)
	if len(traits) == 0 && !c.ids {
		return nil
	}
	next := &contact{Traits: map[string]string{}, P: r.Partition, O: r.Offset}
	if cur != nil {
		maps.Copy(next.Traits, cur.Traits)
		next.UserID, next.AnonymousID, next.Consent, next.TimeZone = cur.UserID, cur.AnonymousID, cur.Consent, cur.TimeZone
	}
	for k, v := range traits {
		if _, ok := next.Traits[k]; ok || len(next.Traits) < maxTraits {
			next.Traits[k] = v
		}
	}
	if c.ids {
		if identity.Usable(ev.Raw.UserID) {
			next.UserID = ev.Raw.UserID
		}
		if identity.Usable(ev.Raw.AnonymousID) {
			next.AnonymousID = ev.Raw.AnonymousID
		}
		consent := ev.Raw.Consent
		next.Consent = &consent
		if ev.Geo.TimeZone != "" {
			next.TimeZone = ev.Geo.TimeZone
		}
	}
	if cur != nil && maps.Equal(cur.Traits, next.Traits) && cur.UserID == next.UserID && cur.AnonymousID == next.AnonymousID &&
		sameConsent(cur.Consent, next.Consent) && cur.TimeZone == next.TimeZone {
		return nil
	}
	c.byProfile[pid] = next
	c.m.contacts.Set(float64(len(c.byProfile)))
	c.m.contactEvents.WithLabelValues("updated").Inc()
	b, _ := json.Marshal(next) // strings only: cannot fail
	return &kgo.Record{Topic: c.topic, Key: []byte(pid), Value: b}
}

// eventTraits returns the scalar traits an event carries: an identify's
// traits, and any event's context.traits. Nested values are not kept.
func eventTraits(ev *schemas.EnrichedEvent) map[string]string {
	out := map[string]string{}
	add := func(raw map[string]any) {
		for k, v := range raw {
			if k == "" || len(k) > maxTraitKey {
				continue
			}
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case float64:
				s = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				s = strconv.FormatBool(v)
			default:
				continue
			}
			if len(s) <= maxTraitValue {
				out[k] = s
			}
		}
	}
	if ev.Raw.ContextJSON != "" {
		var ctx struct {
			Traits map[string]any `json:"traits"`
		}
		if json.Unmarshal([]byte(ev.Raw.ContextJSON), &ctx) == nil {
			add(ctx.Traits)
		}
	}
	if ev.Raw.Type == "identify" && ev.Raw.TraitsJSON != "" {
		var t map[string]any
		if json.Unmarshal([]byte(ev.Raw.TraitsJSON), &t) == nil {
			add(t)
		}
	}
	return out
}

// get returns a copy of a profile's traits (nil: none known).
func (c *contacts) get(pid string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct := c.byProfile[pid]; ct != nil {
		return maps.Clone(ct.Traits)
	}
	return nil
}

func sameConsent(a, b *schemas.Consent) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// consent returns a profile's latest consent, if known.
func (c *contacts) consent(pid string) (schemas.Consent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct := c.byProfile[pid]; ct != nil && ct.Consent != nil {
		return *ct.Consent, true
	}
	return schemas.Consent{}, false
}

// timeZone returns a profile's time zone (IANA name), "" if unknown.
func (c *contacts) timeZone(pid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct := c.byProfile[pid]; ct != nil {
		return ct.TimeZone
	}
	return ""
}

// identifiers returns a profile's user and anonymous ids as last seen.
func (c *contacts) identifiers(pid string) (userID, anonymousID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct := c.byProfile[pid]; ct != nil {
		return ct.UserID, ct.AnonymousID
	}
	return "", ""
}

// lookup returns a profile's traits. When none are known, it first lets
// the directory catch up with what was on the enriched topic when the
// transition was evaluated (up to catchUpTimeout): the event that gave the
// address may have been committed just before the transition it caused.
func (c *contacts) lookup(ctx context.Context, pid string, evaluatedAt time.Time) map[string]string {
	if t := c.get(pid); t != nil {
		return t
	}
	c.mu.Lock()
	covered := evaluatedAt.Before(c.caughtUp.Add(-time.Second)) // a second of clock skew between hosts
	c.mu.Unlock()
	if covered {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := c.catchUp(ctx); err != nil {
		c.log.Warn("contact directory did not catch up", "err", err)
	}
	return c.get(pid)
}

// catchUp waits until the feed group (this instance or another) has
// applied the enriched topic up to its ends, and the table the contacts
// topic up to its ends, as they were when it began. The feed commits only
// what it wrote, so its committed offsets say how far it got.
func (c *contacts) catchUp(ctx context.Context) error {
	start := c.now()
	ends, err := c.adm.ListEndOffsets(ctx, c.source)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", c.source, err)
	}
	for {
		committed, err := c.adm.FetchOffsets(ctx, c.group)
		if err == nil && c.fedAt(ends, committed) {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("feed %s behind %s", c.group, c.source)
		}
	}
	tends, err := c.adm.ListEndOffsets(ctx, c.topic)
	if err == nil {
		err = tends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", c.topic, err)
	}
	for !c.tableAt(tends) {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("table behind %s", c.topic)
		}
	}
	c.mu.Lock()
	if start.After(c.caughtUp) {
		c.caughtUp = start
	}
	c.mu.Unlock()
	return nil
}

func (c *contacts) fedAt(ends kadm.ListedOffsets, committed kadm.OffsetResponses) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset <= 0 || c.fed[o.Partition] >= o.Offset {
			return
		}
		if r, found := committed.Lookup(c.source, o.Partition); found && r.Err == nil && r.At >= o.Offset {
			return
		}
		ok = false
	})
	return ok
}

// topicEnds lists a topic's end offsets. A topic just created can take a
// moment to be known to every broker: that is retried, with a backoff
// doubling up to a second, until ctx ends.
func topicEnds(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListedOffsets, error) {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return ends, nil
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, kerr.LeaderNotAvailable) {
			return nil, err
		}
		if serr := sleepCtx(ctx, wait); serr != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
