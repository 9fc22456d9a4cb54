package segmenter

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
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
	Segments  []SegmentSpec `yaml:"segments"`
	Workflows yaml.Node     `yaml:"workflows"`
}

// SegmentSpec is one segment as written. Exactly one kind is set.
type SegmentSpec struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	Event       *EventSpec   `yaml:"event"`
	Absence     *AbsenceSpec `yaml:"absence"`
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

// Segment is one validated, compiled segment.
type Segment struct {
	Name        string
	Description string
	rule        rule
}

// Kind names the segment's kind ("event", "absence").
func (s *Segment) Kind() string { return s.rule.kind() }

// Definitions are the compiled segments of one file, in file order, and the
// file's workflows section for package workflow.
type Definitions struct {
	Segments  []*Segment
	Workflows yaml.Node
	// Source is the path read, or "embedded default".
	Source string

	preds []*predicate
	needs needs
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
// reported, each naming the segment and the faulty part.
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
	seen := map[string]bool{}
	if len(f.Segments) == 0 {
		errs = append(errs, errors.New("segments: none defined"))
	}
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
		case seen[spec.Name]:
			serrs = append([]error{errors.New("name: defined twice")}, serrs...)
		}
		seen[spec.Name] = true
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
	d.preds = c.preds
	for _, p := range c.preds {
		d.needs = d.needs.or(p.needs)
	}
	return d, nil
}

// compiler compiles predicates once each: segments sharing an expression
// share its evaluation per event.
type compiler struct {
	env   *cel.Env
	preds []*predicate
	bySrc map[string]int
}

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

func (c *compiler) segment(spec SegmentSpec) (*Segment, []error) {
	kinds := 0
	for _, set := range []bool{spec.Event != nil, spec.Absence != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, []error{fmt.Errorf("exactly one kind (event, absence) must be given, found %d", kinds)}
	}
	var errs []error
	seg := &Segment{Name: spec.Name, Description: spec.Description}
	switch {
	case spec.Event != nil:
		enter, err := c.predicate(spec.Name, "event.enter", spec.Event.Enter, true)
		errs = appendErr(errs, err)
		exit, err := c.predicate(spec.Name, "event.exit", spec.Event.Exit, false)
		errs = appendErr(errs, err)
		seg.rule = &eventRule{enter: enter, exit: exit}
	case spec.Absence != nil:
		start, err := c.predicate(spec.Name, "absence.start", spec.Absence.Start, true)
		errs = appendErr(errs, err)
		missing, err := c.predicate(spec.Name, "absence.missing", spec.Absence.Missing, true)
		errs = appendErr(errs, err)
		if spec.Absence.Within <= 0 {
			errs = append(errs, fmt.Errorf("absence.within: %s, want a positive duration such as 30m", spec.Absence.Within))
		} else if spec.Absence.Within < time.Millisecond {
			errs = append(errs, fmt.Errorf("absence.within: %s, want at least 1ms", spec.Absence.Within))
		}
		if start >= 0 && start == missing {
			errs = append(errs, errors.New("absence.missing: the same expression as absence.start"))
		}
		seg.rule = &absenceRule{start: start, missing: missing, within: spec.Absence.Within.Milliseconds()}
	}
	return seg, errs
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
