package segmenter

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/ext"

	"github.com/sillage/sillage/schemas"
)

// Event is what a predicate sees as the variable `event`. Field names in
// expressions are the `cel` tags: event.type, event.name,
// event.properties.price, event.consent.marketing, event.page.path…
type Event struct {
	ID          string         `cel:"id"`
	Type        string         `cel:"type"`
	Name        string         `cel:"name"`
	UserID      string         `cel:"user_id"`
	AnonymousID string         `cel:"anonymous_id"`
	ProfileID   string         `cel:"profile_id"`
	Source      string         `cel:"source"`
	SessionID   string         `cel:"session_id"`
	Time        time.Time      `cel:"time"`
	Properties  map[string]any `cel:"properties"`
	Traits      map[string]any `cel:"traits"`
	Context     map[string]any `cel:"context"`
	Consent     EventConsent   `cel:"consent"`
	Page        EventPage      `cel:"page"`
	Geo         EventGeo       `cel:"geo"`
	Campaign    EventCampaign  `cel:"campaign"`
	Referrer    EventReferrer  `cel:"referrer"`
	Device      EventDevice    `cel:"device"`
}

// EventConsent is the consent vector: event.consent.marketing…
type EventConsent struct {
	Necessary       bool `cel:"necessary"`
	Analytics       bool `cel:"analytics"`
	Personalisation bool `cel:"personalisation"`
	Marketing       bool `cel:"marketing"`
	Advertising     bool `cel:"advertising"`
}

// EventPage is event.page.
type EventPage struct {
	URL      string `cel:"url"`
	Path     string `cel:"path"`
	Referrer string `cel:"referrer"`
	Title    string `cel:"title"`
}

// EventGeo is event.geo.
type EventGeo struct {
	CountryCode string `cel:"country_code"`
	Region      string `cel:"region"`
	City        string `cel:"city"`
	TimeZone    string `cel:"time_zone"`
}

// EventCampaign is event.campaign (utm_* parameters).
type EventCampaign struct {
	Source  string `cel:"source"`
	Medium  string `cel:"medium"`
	Name    string `cel:"name"`
	Term    string `cel:"term"`
	Content string `cel:"content"`
}

// EventReferrer is event.referrer.
type EventReferrer struct {
	Medium string `cel:"medium"`
	Source string `cel:"source"`
	Host   string `cel:"host"`
}

// EventDevice is event.device (from the user agent).
type EventDevice struct {
	Browser string `cel:"browser"`
	OS      string `cel:"os"`
	Type    string `cel:"type"`
}

// needs says which JSON members of the event some predicate reads, so that
// events are only parsed as far as the definitions require.
type needs struct{ properties, traits, context bool }

func (n needs) or(o needs) needs {
	return needs{n.properties || o.properties, n.traits || o.traits, n.context || o.context}
}

// newEnv returns the CEL environment predicates compile in. Macros and the
// standard library are available, plus the strings extension.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Event](), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable("event", cel.ObjectType("segmenter.Event")),
	)
}

// predicate is one compiled boolean expression.
type predicate struct {
	src   string
	owner string // the first segment using it (metrics label)
	prg   cel.Program
	needs needs
}

// compilePredicate parses, type-checks and plans one expression; the error
// carries CEL's message with line and column.
func compilePredicate(env *cel.Env, src string) (*predicate, error) {
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !checked.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("must be a boolean expression, is %s", checked.OutputType())
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &predicate{src: src, prg: prg, needs: fieldNeeds(checked)}, nil
}

// fieldNeeds finds which of event.properties, event.traits and
// event.context an expression selects.
func fieldNeeds(a *cel.Ast) needs {
	var n needs
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.SelectKind {
			return
		}
		switch e.AsSelect().FieldName() {
		case "properties":
			n.properties = true
		case "traits":
			n.traits = true
		case "context":
			n.context = true
		}
	}))
	return n
}

// eval runs the predicate; an evaluation error (a missing map key, a type
// mismatch at run time) is returned and counts as no match.
func (p *predicate) eval(act any) (bool, error) {
	out, _, err := p.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %T, not bool", out.Value())
	}
	return b, nil
}

// fillEvent builds the predicate view of an enriched event, parsing only
// the JSON members that n asks for. Unparseable JSON yields an empty map.
func fillEvent(dst *Event, e *schemas.EnrichedEvent, n needs) {
	r := &e.Raw
	*dst = Event{
		ID:          r.EventID,
		Type:        r.Type,
		Name:        r.Event,
		UserID:      r.UserID,
		AnonymousID: r.AnonymousID,
		ProfileID:   e.ProfileID,
		Source:      r.Source,
		SessionID:   e.SessionID,
		Time:        time.UnixMilli(e.EventTime).UTC(),
		Consent: EventConsent{
			Necessary:       r.Consent.Necessary,
			Analytics:       r.Consent.Analytics,
			Personalisation: r.Consent.Personalisation,
			Marketing:       r.Consent.Marketing,
			Advertising:     r.Consent.Advertising,
		},
		Page:     EventPage{URL: r.PageURL, Path: r.PagePath, Referrer: r.PageReferrer, Title: r.PageTitle},
		Geo:      EventGeo{CountryCode: e.Geo.CountryCode, Region: e.Geo.Region, City: e.Geo.City, TimeZone: e.Geo.TimeZone},
		Campaign: EventCampaign{Source: e.Campaign.Source, Medium: e.Campaign.Medium, Name: e.Campaign.Name, Term: e.Campaign.Term, Content: e.Campaign.Content},
		Referrer: EventReferrer{Medium: e.Referrer.Medium, Source: e.Referrer.Source, Host: e.Referrer.Host},
		Device:   EventDevice{Browser: e.UA.Browser, OS: e.UA.OS, Type: e.UA.Device},
	}
	if n.properties {
		dst.Properties = parseObject(r.PropertiesJSON)
	}
	if n.traits {
		dst.Traits = parseObject(r.TraitsJSON)
	}
	if n.context {
		dst.Context = parseObject(r.ContextJSON)
	}
}

var emptyObject = map[string]any{}

func parseObject(s string) map[string]any {
	if s == "" || s == "{}" || s == "null" {
		return emptyObject
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return emptyObject
	}
	return m
}
