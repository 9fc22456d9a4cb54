package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/schemas"
)

// EmitSource is the source name of the events workflows emit, and
// EmitUserAgent their user agent.
const (
	EmitSource    = "workflow"
	EmitUserAgent = "sillage-workflow"
)

// EmitSpec emits a track event for the profile (e.g. "Cart Reminder
// Sent"), through the pipeline like any other: enriched, in segments, in
// the lake.
type EmitSpec struct {
	Event      string         `yaml:"event"`
	Properties map[string]any `yaml:"properties"`
	// Consent is the category the transition's snapshot must grant
	// (default personalisation).
	Consent string `yaml:"consent"`
}

// SetTraitsSpec sets traits of the profile by emitting an identify event
// with them (so every stage sees them: segments, the contact directory,
// the lake).
type SetTraitsSpec struct {
	Traits  map[string]any `yaml:"traits"`
	Consent string         `yaml:"consent"`
}

// Emit is a validated emit or set_traits action.
type Emit struct {
	Type     string // track | identify
	Event    string
	JSON     string // properties (track) or traits (identify)
	Consent  string
	kindName string
}

func validateEmit(s EmitSpec) (*Emit, []error) {
	var errs []error
	e := &Emit{Type: "track", Event: s.Event, Consent: s.Consent, kindName: "emit"}
	if s.Event == "" || len(s.Event) > 200 {
		errs = append(errs, fmt.Errorf("event: %q, want a name of 1 to 200 bytes", s.Event))
	}
	b, err := json.Marshal(orEmpty(s.Properties))
	if err != nil {
		errs = append(errs, fmt.Errorf("properties: %v", err))
	}
	e.JSON = string(b)
	return e, append(errs, checkConsent(&e.Consent)...)
}

func validateSetTraits(s SetTraitsSpec) (*Emit, []error) {
	var errs []error
	e := &Emit{Type: "identify", Consent: s.Consent, kindName: "set_traits"}
	if len(s.Traits) == 0 {
		errs = append(errs, errors.New("traits: at least one is required"))
	}
	for _, k := range sortedKeys(s.Traits) {
		switch s.Traits[k].(type) {
		case string, int, int64, float64, bool:
		default:
			errs = append(errs, fmt.Errorf("traits.%s: %v is not a string, number or boolean", k, s.Traits[k]))
		}
	}
	b, err := json.Marshal(orEmpty(s.Traits))
	if err != nil {
		errs = append(errs, fmt.Errorf("traits: %v", err))
	}
	e.JSON = string(b)
	return e, append(errs, checkConsent(&e.Consent)...)
}

func checkConsent(c *string) []error {
	given := *c
	if *c == "" {
		*c = "personalisation"
	}
	if !slices.Contains(schemas.ConsentCategories, *c) {
		return []error{fmt.Errorf("consent: %q, want one of %v", given, schemas.ConsentCategories)}
	}
	return nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// EmitEventID is the messageId of the event that action index of workflow
// emits for a transition: deterministic, so that an emission repeated after
// a crash is dropped by the enricher's duplicate suppression.
func EmitEventID(transitionID, workflow string, index int) string {
	h := sha256.New()
	fmt.Fprintf(h, "emit\x00%s\x00%s\x00%d", transitionID, workflow, index)
	return "wf-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// emitEvent produces the action's event on the raw topic, with the
// profile's identifiers as last seen (the contact directory), else the
// profile id as user id (which the enricher resolves to the same profile).
func (c *Consumer) emitEvent(ctx context.Context, t *schemas.MembershipTransition, wf *Workflow, i int, e *Emit, produce func(context.Context, *kgo.Record) error) (int, error) {
	uid, aid := c.contacts.identifiers(t.ProfileID)
	if uid == "" && aid == "" {
		uid = t.ProfileID
	}
	ctxJSON, _ := json.Marshal(map[string]any{"workflow": map[string]any{
		"name": wf.Name, "transition_id": t.ID, "segment": t.Segment}})
	now := c.now().UnixMilli()
	raw := &schemas.RawEvent{
		EventID: EmitEventID(t.ID, wf.Name, i), Source: EmitSource, Type: e.Type, Event: e.Event,
		UserID: uid, AnonymousID: aid, Timestamp: now, SentAt: now, ReceivedAt: now,
		UserAgent: EmitUserAgent, LibraryName: EmitUserAgent, ContextJSON: string(ctxJSON),
		Consent: t.Consent, ConsentSignal: schemas.ConsentSignal{Origin: "workflow"},
	}
	if e.Type == "identify" {
		raw.TraitsJSON = e.JSON
	} else {
		raw.PropertiesJSON = e.JSON
	}
	val, err := c.serde.Encode(schemas.KindRaw, raw, nil)
	if err != nil {
		return 0, fmt.Errorf("encoding the event: %w", err)
	}
	return c.send.retry(ctx, e.kindName, 5, func(int) (time.Duration, error) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return 0, produce(pctx, &kgo.Record{Topic: c.topics.Raw, Key: []byte(raw.Key()), Value: val})
	})
}
