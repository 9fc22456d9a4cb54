package segmenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
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

// Profile is what a predicate sees as the variable `profile`: the
// profile's state before the current event's segments are decided (traits
// and computed traits already include the current event).
type Profile struct {
	// Traits are the traits of the profile's identify events, merged
	// (top-level keys; a null value removes a key).
	Traits map[string]any `cel:"traits"`
	// Computed are the computed traits of the definitions file (count and
	// sum are 0 before any matching event; first/last are absent).
	Computed map[string]any `cel:"computed"`
	// Segments are the segments the profile is in, as keys: read them with
	// segment("name") or "name" in profile.segments.
	Segments map[string]bool `cel:"segments"`
}

// needs says which JSON members of the event, and which parts of the
// profile, some expression reads, so that only those are built.
type needs struct {
	properties, traits, context                     bool
	profileTraits, profileComputed, profileSegments bool
}

func (n needs) or(o needs) needs {
	return needs{n.properties || o.properties, n.traits || o.traits, n.context || o.context,
		n.profileTraits || o.profileTraits, n.profileComputed || o.profileComputed, n.profileSegments || o.profileSegments}
}

// newEnv returns the CEL environment expressions compile in. Macros and the
// standard library are available, plus the strings extension and the macro
// segment("name"), which stands for "name" in profile.segments.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Event](), reflect.TypeFor[Profile](), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable("event", cel.ObjectType("segmenter.Event")),
		cel.Variable("profile", cel.ObjectType("segmenter.Profile")),
		cel.Macros(cel.GlobalMacro("segment", 1, expandSegment)),
	)
}

// expandSegment rewrites segment("x") into "x" in profile.segments; the
// argument must be a string literal, so that references are known at load.
func expandSegment(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
	arg := args[0]
	if arg.Kind() != ast.LiteralKind || arg.AsLiteral().Type() != types.StringType {
		return nil, eh.NewError(arg.ID(), `segment() takes a segment name in quotes, e.g. segment("cart_abandoned")`)
	}
	return eh.NewCall(operators.In, arg, eh.NewSelect(eh.NewIdent("profile"), "segments")), nil
}

// predicate is one compiled expression: a boolean predicate, or a value
// (a window sum, a computed trait) in Definitions.values.
type predicate struct {
	src   string
	owner string // the first segment using it (metrics label)
	prg   cel.Program
	needs needs
	// segments and computed are the segment names and computed traits
	// the expression refers to.
	segments []string
	computed []string
	profile  bool // reads the variable profile
	// volatile: reads profile.segments, which changes while one event's
	// segments are decided, so its result is not cached per event.
	volatile bool
}

// compilePredicate parses, type-checks and plans one boolean expression;
// the error carries CEL's message with line and column.
func compilePredicate(env *cel.Env, src string) (*predicate, error) {
	return compileExpr(env, src, "boolean", cel.BoolType)
}

// compileExpr compiles an expression whose type must be one of want (none:
// any type).
func compileExpr(env *cel.Env, src, what string, want ...*cel.Type) (*predicate, error) {
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if len(want) > 0 {
		ok := false
		for _, w := range want {
			ok = ok || checked.OutputType().IsExactType(w)
		}
		if !ok {
			return nil, fmt.Errorf("must be a %s expression, is %s", what, checked.OutputType())
		}
	}
	p := &predicate{src: src}
	if err := p.inspect(checked); err != nil {
		return nil, err
	}
	p.volatile = p.needs.profileSegments
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	p.prg = prg
	return p, nil
}

// inspect finds which parts of event and profile an expression reads, and
// the segments and computed traits it names. profile.segments may only be
// read as "name" in profile.segments (what segment("name") expands to).
func (p *predicate) inspect(a *cel.Ast) error {
	var err error
	allowed := map[int64]bool{} // profile.segments selections in a valid `in`
	root := a.NativeRep().Expr()
	isSel := func(e ast.Expr, ident, field string) bool {
		if e.Kind() != ast.SelectKind || e.AsSelect().FieldName() != field {
			return false
		}
		op := e.AsSelect().Operand()
		return op.Kind() == ast.IdentKind && op.AsIdent() == ident
	}
	ast.PreOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.In {
			return
		}
		args := e.AsCall().Args()
		if len(args) == 2 && isSel(args[1], "profile", "segments") && args[0].Kind() == ast.LiteralKind {
			if name, ok := args[0].AsLiteral().Value().(string); ok {
				allowed[args[1].ID()] = true
				if !slices.Contains(p.segments, name) {
					p.segments = append(p.segments, name)
				}
			}
		}
	}))
	ast.PreOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.IdentKind && e.AsIdent() == "profile" {
			p.profile = true
		}
		if e.Kind() != ast.SelectKind {
			return
		}
		sel := e.AsSelect()
		switch {
		case isSel(e, "event", "properties"):
			p.needs.properties = true
		case isSel(e, "event", "traits"):
			p.needs.traits = true
		case isSel(e, "event", "context"):
			p.needs.context = true
		case isSel(e, "profile", "traits"):
			p.needs.profileTraits = true
		case isSel(e, "profile", "computed"):
			p.needs.profileComputed = true
		case isSel(e, "profile", "segments"):
			p.needs.profileSegments = true
			if !allowed[e.ID()] && err == nil {
				err = errors.New(`profile.segments can only be read as segment("name") or "name" in profile.segments`)
			}
		case isSel(sel.Operand(), "profile", "computed"):
			if !slices.Contains(p.computed, sel.FieldName()) {
				p.computed = append(p.computed, sel.FieldName())
			}
		}
	}))
	return err
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

// number runs a numeric expression.
func (p *predicate) number(act any) (float64, error) {
	out, _, err := p.prg.Eval(act)
	if err != nil {
		return 0, err
	}
	return toFloat(out.Value())
}

func toFloat(v any) (float64, error) {
	f, err := anyFloat(v)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return 0, fmt.Errorf("value %v is not a finite number", f)
	}
	return f, err
}

func anyFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("value %q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("value of type %T is not a number", v)
}

// value runs an expression and returns its result as a JSON-like value:
// numbers as float64, timestamps as RFC 3339 strings, durations as Go
// duration strings; lists and maps are refused.
func (p *predicate) value(act any) (any, error) {
	out, _, err := p.prg.Eval(act)
	if err != nil {
		return nil, err
	}
	switch x := out.Value().(type) {
	case bool, string, float64:
		return x, nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		return x.String(), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("value of type %s cannot be kept as a trait (want a string, number, bool or timestamp)", out.Type().TypeName())
}

// fillEvent builds the predicate view of an enriched event, without its
// JSON members (see parseMembers).
func fillEvent(dst *Event, e *schemas.EnrichedEvent) {
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
}

// parseMembers parses the JSON members of the event that n asks for and
// done does not have yet (an expression is evaluated only once the members
// it reads are there). Unparseable JSON yields an empty map.
func parseMembers(dst *Event, e *schemas.EnrichedEvent, n needs, done *needs) {
	if n.properties && !done.properties {
		dst.Properties, done.properties = parseObject(e.Raw.PropertiesJSON), true
	}
	if (n.traits || n.profileTraits) && !done.traits {
		dst.Traits, done.traits = parseObject(e.Raw.TraitsJSON), true
	}
	if n.context && !done.context {
		dst.Context, done.context = parseObject(e.Raw.ContextJSON), true
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
