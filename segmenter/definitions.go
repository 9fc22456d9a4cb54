package segmenter

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"gopkg.in/yaml.v3"
)

//go:embed default_definitions.yaml
var defaultDefinitions []byte

// DefaultDefinitions returns the embedded demo definitions file.
func DefaultDefinitions() []byte { return bytes.Clone(defaultDefinitions) }

// File is the YAML layout of a definitions file. Workflows are kept as YAML
// and parsed by package segmenter/workflow.
type File struct {
	Computed  []ComputedSpec `yaml:"computed"`
	Segments  []SegmentSpec  `yaml:"segments"`
	Workflows yaml.Node      `yaml:"workflows"`
}

// ComputedSpec is a computed trait: an aggregate over the profile's events
// matching Where, readable in predicates as profile.computed.<name>.
type ComputedSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Aggregate is count, sum, min, max, first or last.
	Aggregate string `yaml:"aggregate"`
	// Where selects the events (empty: every event).
	Where string `yaml:"where"`
	// Value is the expression aggregated (numeric for sum, min and max;
	// not used by count).
	Value string `yaml:"value"`
}

// SegmentSpec is one segment as written. Exactly one kind is set.
type SegmentSpec struct {
	Name        string          `yaml:"name"`
	Description string          `yaml:"description"`
	Event       *EventSpec      `yaml:"event"`
	Absence     *AbsenceSpec    `yaml:"absence"`
	Window      *WindowSpec     `yaml:"window"`
	Sequence    *SequenceSpec   `yaml:"sequence"`
	InSegments  *InSegmentsSpec `yaml:"in_segments"`
}

// EventSpec: the profile enters when an event matches Enter, and exits when
// an event matches Exit (optional; without it membership is permanent).
type EventSpec struct {
	Enter string `yaml:"enter"`
	Exit  string `yaml:"exit"`
}

// AbsenceSpec: the profile enters when an event matching Start is followed
// by no event matching Missing for Within (event time); a later Missing
// event makes it exit.
type AbsenceSpec struct {
	Start   string        `yaml:"start"`
	Missing string        `yaml:"missing"`
	Within  time.Duration `yaml:"within"`
}

// WindowSpec: a sliding window of Within over the events matching Match.
// The profile is a member while the window holds at least AtLeast events
// and (when Sum is given) the sum of Sum over them is at least SumAtLeast.
type WindowSpec struct {
	Match      string        `yaml:"match"`
	Within     time.Duration `yaml:"within"`
	AtLeast    int           `yaml:"at_least"`
	Sum        string        `yaml:"sum"`
	SumAtLeast *float64      `yaml:"sum_at_least"`
}

// SequenceSpec: the profile enters when events matching Steps occur in
// order, the last less than Within after the first. It exits on an event
// matching Exit, or MemberFor after entering (both optional).
type SequenceSpec struct {
	Steps     []string      `yaml:"steps"`
	Within    time.Duration `yaml:"within"`
	Exit      string        `yaml:"exit"`
	MemberFor time.Duration `yaml:"member_for"`
}

// InSegmentsSpec: the profile is a member while it is in all of All, in at
// least one of Any (when given) and in none of None.
type InSegmentsSpec struct {
	All  []string `yaml:"all"`
	Any  []string `yaml:"any"`
	None []string `yaml:"none"`
}

// Segment is one validated, compiled segment.
type Segment struct {
	Name        string
	Description string
	rule        rule
	refs        []ref // segments it refers to
	crefs       []ref // computed traits it reads
}

// Kind names the segment's kind ("event", "absence", "window", "sequence",
// "in_segments").
func (s *Segment) Kind() string { return s.rule.kind() }

// Definitions are the compiled segments of one file, in file order, and the
// file's workflows section for package workflow.
type Definitions struct {
	Segments  []*Segment
	Workflows yaml.Node
	// Source is the path read, or "embedded default".
	Source string

	preds    []*predicate
	values   []*predicate // value expressions (sums, computed traits)
	needs    needs
	computed []*computedTrait
	// computedDefaults are the values of count and sum computed traits
	// before any event (0); never modified.
	computedDefaults map[string]any
	// order is Segments with every segment after those it refers to.
	order []*Segment
}

// Segment returns the segment of a name.
func (d *Definitions) Segment(name string) (*Segment, bool) {
	for _, s := range d.Segments {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// LoadDefinitions reads and compiles a definitions file; an empty path
// loads the embedded demo definitions.
func LoadDefinitions(path string) (*Definitions, error) {
	if path == "" {
		d, err := ParseDefinitions(defaultDefinitions)
		if err != nil {
			return nil, fmt.Errorf("embedded definitions: %w", err)
		}
		d.Source = "embedded default"
		return d, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading segment definitions: %w", err)
	}
	d, err := ParseDefinitions(data)
	if err != nil {
		return nil, fmt.Errorf("segment definitions %s: %w", path, err)
	}
	d.Source = path
	return d, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ParseDefinitions parses and compiles definitions. Every problem is
// reported, each naming the segment (or computed trait) and the faulty part.
func ParseDefinitions(data []byte) (*Definitions, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("building the expression environment: %w", err)
	}
	c := &compiler{env: env, bySrc: map[string]int{}}
	d := &Definitions{Workflows: f.Workflows}
	var errs []error

	computed := map[string]*computedTrait{}
	for i, spec := range f.Computed {
		label := fmt.Sprintf("computed %q", spec.Name)
		if spec.Name == "" {
			label = fmt.Sprintf("computed[%d]", i)
		}
		ct, cerrs := c.computed(spec)
		switch {
		case spec.Name == "":
			cerrs = append([]error{errors.New("name: required")}, cerrs...)
		case !nameRE.MatchString(spec.Name):
			cerrs = append([]error{fmt.Errorf("name: %q must be lower-case letters, digits and _, starting with a letter, at most 63 characters", spec.Name)}, cerrs...)
		case computed[spec.Name] != nil:
			cerrs = append([]error{errors.New("name: defined twice")}, cerrs...)
		}
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("%s: %w", label, e))
		}
		if len(cerrs) == 0 {
			computed[spec.Name] = ct
			d.computed = append(d.computed, ct)
		} else if spec.Name != "" && computed[spec.Name] == nil {
			computed[spec.Name] = &computedTrait{name: spec.Name} // known, for references
		}
	}

	seen := map[string]bool{}
	for _, spec := range f.Segments {
		if spec.Name != "" {
			seen[spec.Name] = true
		}
	}
	if len(f.Segments) == 0 {
		errs = append(errs, errors.New("segments: none defined"))
	}
	defined := map[string]bool{}
	for i, spec := range f.Segments {
		label := fmt.Sprintf("segment %q", spec.Name)
		if spec.Name == "" {
			label = fmt.Sprintf("segments[%d]", i)
		}
		seg, serrs := c.segment(spec)
		switch {
		case spec.Name == "":
			serrs = append([]error{errors.New("name: required")}, serrs...)
		case !nameRE.MatchString(spec.Name):
			serrs = append([]error{fmt.Errorf("name: %q must be lower-case letters, digits and _, starting with a letter, at most 63 characters", spec.Name)}, serrs...)
		case defined[spec.Name]:
			serrs = append([]error{errors.New("name: defined twice")}, serrs...)
		}
		defined[spec.Name] = true
		if seg != nil {
			for _, r := range seg.refs {
				if !seen[r.target] {
					serrs = append(serrs, fmt.Errorf("%s: segment(%q): no such segment", r.field, r.target))
				}
			}
			for _, r := range seg.crefs {
				if computed[r.target] == nil {
					serrs = append(serrs, fmt.Errorf("%s: profile.computed.%s: no such computed trait (define it under computed:)", r.field, r.target))
				}
			}
		}
		for _, e := range serrs {
			errs = append(errs, fmt.Errorf("%s: %w", label, e))
		}
		if len(serrs) == 0 {
			d.Segments = append(d.Segments, seg)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	order, err := orderSegments(d.Segments)
	if err != nil {
		return nil, err
	}
	d.order = order
	d.preds, d.values = c.preds, c.values
	d.computedDefaults = map[string]any{}
	for _, ct := range d.computed {
		if ct.agg == aggCount || ct.agg == aggSum {
			d.computedDefaults[ct.name] = 0.0
		}
	}
	for _, p := range append(slices.Clone(c.preds), c.values...) {
		d.needs = d.needs.or(p.needs)
	}
	for _, s := range d.Segments {
		if _, ok := s.rule.(*membershipRule); ok {
			d.needs.profileSegments = true
		}
	}
	return d, nil
}

// orderSegments sorts segments so that each comes after the segments it
// refers to (file order otherwise), and refuses cycles, naming them.
func orderSegments(segs []*Segment) ([]*Segment, error) {
	byName := map[string]*Segment{}
	for _, s := range segs {
		byName[s.Name] = s
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []*Segment
	var path []string
	var visit func(s *Segment) error
	visit = func(s *Segment) error {
		switch state[s.Name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, s.Name)
			cycle := append(slices.Clone(path[i:]), s.Name)
			return fmt.Errorf("segment %q: refers to itself through segment membership: cycle %s", s.Name, strings.Join(cycle, " → "))
		}
		state[s.Name] = visiting
		path = append(path, s.Name)
		for _, r := range s.refs {
			if err := visit(byName[r.target]); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[s.Name] = done
		order = append(order, s)
		return nil
	}
	for _, s := range segs {
		if err := visit(s); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// compiler compiles predicates once each: segments sharing an expression
// share its evaluation per event.
type compiler struct {
	env    *cel.Env
	preds  []*predicate
	bySrc  map[string]int
	values []*predicate
}

// ref is a reference from a segment's field to a segment or computed trait.
type ref struct{ field, target string }

func (c *compiler) predicate(owner, field, src string, required bool) (int, error) {
	if src == "" {
		if required {
			return -1, fmt.Errorf("%s: required", field)
		}
		return -1, nil
	}
	if i, ok := c.bySrc[src]; ok {
		return i, nil
	}
	p, err := compilePredicate(c.env, src)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", field, err)
	}
	p.owner = owner
	c.preds = append(c.preds, p)
	c.bySrc[src] = len(c.preds) - 1
	return len(c.preds) - 1, nil
}

// value compiles a value expression: numeric when number is set.
func (c *compiler) value(owner, field, src string, number bool) (int, error) {
	if src == "" {
		return -1, fmt.Errorf("%s: required", field)
	}
	var p *predicate
	var err error
	if number {
		p, err = compileExpr(c.env, src, "numeric", cel.DoubleType, cel.IntType, cel.UintType, cel.DynType)
	} else {
		p, err = compileExpr(c.env, src, "scalar (string, number, bool or timestamp)",
			cel.StringType, cel.DoubleType, cel.IntType, cel.UintType, cel.BoolType, cel.TimestampType, cel.DurationType, cel.DynType)
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", field, err)
	}
	p.owner = owner
	c.values = append(c.values, p)
	return len(c.values) - 1, nil
}

// refs collects what the compiled expression of a segment's field refers to.
func (c *compiler) refs(seg *Segment, field string, p *predicate) {
	for _, name := range p.segments {
		seg.refs = append(seg.refs, ref{field, name})
	}
	for _, name := range p.computed {
		seg.crefs = append(seg.crefs, ref{field, name})
	}
}

func (c *compiler) pred(seg *Segment, field, src string, required bool) (int, error) {
	i, err := c.predicate(seg.Name, field, src, required)
	if i >= 0 {
		c.refs(seg, field, c.preds[i])
	}
	return i, err
}

func (c *compiler) computed(spec ComputedSpec) (*computedTrait, []error) {
	ct := &computedTrait{name: spec.Name, where: -1, value: -1}
	var errs []error
	owner := "computed:" + spec.Name
	if spec.Where != "" {
		i, err := c.predicate(owner, "where", spec.Where, false)
		errs = appendErr(errs, err)
		if i >= 0 && c.preds[i].profile {
			errs = append(errs, errors.New("where: computed traits read event only, not profile"))
		}
		ct.where = i
	}
	switch spec.Aggregate {
	case "count":
		ct.agg = aggCount
		if spec.Value != "" {
			errs = append(errs, errors.New("value: not used by aggregate count (put the condition in where)"))
		}
	case "sum", "min", "max", "first", "last":
		ct.agg = map[string]aggregate{"sum": aggSum, "min": aggMin, "max": aggMax, "first": aggFirst, "last": aggLast}[spec.Aggregate]
		i, err := c.value(owner, "value", spec.Value, ct.agg == aggSum || ct.agg == aggMin || ct.agg == aggMax)
		errs = appendErr(errs, err)
		if i >= 0 && c.values[i].profile {
			errs = append(errs, errors.New("value: computed traits read event only, not profile"))
		}
		ct.value = i
	case "":
		errs = append(errs, errors.New("aggregate: required (count, sum, min, max, first or last)"))
	default:
		errs = append(errs, fmt.Errorf("aggregate: %q, want count, sum, min, max, first or last", spec.Aggregate))
	}
	return ct, errs
}

func checkWithin(field string, d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("%s: %s, want a positive duration such as 30m", field, d)
	case d < time.Millisecond:
		return fmt.Errorf("%s: %s, want at least 1ms", field, d)
	}
	return nil
}

func (c *compiler) segment(spec SegmentSpec) (*Segment, []error) {
	kinds := 0
	for _, set := range []bool{spec.Event != nil, spec.Absence != nil, spec.Window != nil, spec.Sequence != nil, spec.InSegments != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, []error{fmt.Errorf("exactly one kind (event, absence, window, sequence, in_segments) must be given, found %d", kinds)}
	}
	var errs []error
	seg := &Segment{Name: spec.Name, Description: spec.Description}
	switch {
	case spec.Event != nil:
		enter, err := c.pred(seg, "event.enter", spec.Event.Enter, true)
		errs = appendErr(errs, err)
		exit, err := c.pred(seg, "event.exit", spec.Event.Exit, false)
		errs = appendErr(errs, err)
		seg.rule = &eventRule{enter: enter, exit: exit}
	case spec.Absence != nil:
		start, err := c.pred(seg, "absence.start", spec.Absence.Start, true)
		errs = appendErr(errs, err)
		missing, err := c.pred(seg, "absence.missing", spec.Absence.Missing, true)
		errs = appendErr(errs, err)
		errs = appendErr(errs, checkWithin("absence.within", spec.Absence.Within))
		if start >= 0 && start == missing {
			errs = append(errs, errors.New("absence.missing: the same expression as absence.start"))
		}
		seg.rule = &absenceRule{start: start, missing: missing, within: spec.Absence.Within.Milliseconds()}
	case spec.Window != nil:
		w := spec.Window
		r := &windowRule{sum: -1, within: w.Within.Milliseconds(), atLeast: w.AtLeast}
		var err error
		r.match, err = c.pred(seg, "window.match", w.Match, true)
		errs = appendErr(errs, err)
		errs = appendErr(errs, checkWithin("window.within", w.Within))
		switch {
		case w.AtLeast < 0:
			errs = append(errs, fmt.Errorf("window.at_least: %d, want a positive count", w.AtLeast))
		case w.AtLeast > maxWindowEvents:
			errs = append(errs, fmt.Errorf("window.at_least: %d, at most %d", w.AtLeast, maxWindowEvents))
		}
		if w.Sum != "" {
			i, err := c.value(seg.Name, "window.sum", w.Sum, true)
			errs = appendErr(errs, err)
			if i >= 0 {
				c.refs(seg, "window.sum", c.values[i])
			}
			r.sum = i
			if w.SumAtLeast == nil {
				errs = append(errs, errors.New("window.sum_at_least: required with window.sum"))
			}
		} else if w.SumAtLeast != nil {
			errs = append(errs, errors.New("window.sum: required with window.sum_at_least (the expression to add up)"))
		}
		if w.SumAtLeast != nil {
			r.sumAtLeast, r.hasSum = *w.SumAtLeast, true
		}
		if w.AtLeast == 0 && w.SumAtLeast == nil {
			errs = append(errs, errors.New("window: a threshold is required: at_least (a count) and/or sum with sum_at_least"))
		}
		seg.rule = r
	case spec.Sequence != nil:
		q := spec.Sequence
		r := &sequenceRule{within: q.Within.Milliseconds(), memberFor: q.MemberFor.Milliseconds()}
		if len(q.Steps) < 2 {
			errs = append(errs, fmt.Errorf("sequence.steps: %d given, want at least 2 predicates in order", len(q.Steps)))
		}
		if len(q.Steps) > maxSequenceSteps {
			errs = append(errs, fmt.Errorf("sequence.steps: %d given, at most %d", len(q.Steps), maxSequenceSteps))
		}
		for i, src := range q.Steps {
			p, err := c.pred(seg, fmt.Sprintf("sequence.steps[%d]", i), src, true)
			errs = appendErr(errs, err)
			r.steps = append(r.steps, p)
		}
		errs = appendErr(errs, checkWithin("sequence.within", q.Within))
		var err error
		r.exit, err = c.pred(seg, "sequence.exit", q.Exit, false)
		errs = appendErr(errs, err)
		if q.MemberFor < 0 || (q.MemberFor > 0 && q.MemberFor < time.Millisecond) {
			errs = append(errs, fmt.Errorf("sequence.member_for: %s, want a positive duration (or none: membership lasts until exit)", q.MemberFor))
		}
		seg.rule = r
	case spec.InSegments != nil:
		m := spec.InSegments
		if len(m.All)+len(m.Any) == 0 {
			errs = append(errs, errors.New("in_segments: all or any must name at least one segment"))
		}
		for field, names := range map[string][]string{"in_segments.all": m.All, "in_segments.any": m.Any, "in_segments.none": m.None} {
			for _, n := range names {
				seg.refs = append(seg.refs, ref{field, n})
			}
		}
		slices.SortFunc(seg.refs, func(a, b ref) int { return strings.Compare(a.field+a.target, b.field+b.target) })
		seg.rule = &membershipRule{all: m.All, any: m.Any, none: m.None}
	}
	return seg, errs
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
