package workflow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

// BranchSpec runs Then when If holds, else Else. If is a CEL expression
// over:
//
//	traits      map(string, string)  the profile's traits (contact directory)
//	consent     map(string, bool)    the consent the run goes on with
//	arrived     bool                 the last wait_for ended by its transition
//	segment, transition, reason      string: the transition that started the run
type BranchSpec struct {
	If   string       `yaml:"if"`
	Then []ActionSpec `yaml:"then"`
	Else []ActionSpec `yaml:"else"`
}

// WaitForSpec pauses the run until the profile makes the transition
// (segment, on: entered by default), at most Timeout.
type WaitForSpec struct {
	Segment string        `yaml:"segment"`
	On      string        `yaml:"on"`
	Timeout time.Duration `yaml:"timeout"`
}

// branchStep is a compiled branch: when its predicate is false the run
// goes on at Else (the first action of the else list, or the branch's end).
type branchStep struct {
	src  string
	prg  cel.Program
	Else int
}

func newBranchEnv() (*cel.Env, error) {
	return cel.NewEnv(ext.Strings(),
		cel.Variable("traits", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("consent", cel.MapType(cel.StringType, cel.BoolType)),
		cel.Variable("arrived", cel.BoolType),
		cel.Variable("segment", cel.StringType),
		cel.Variable("transition", cel.StringType),
		cel.Variable("reason", cel.StringType),
	)
}

// builder flattens a workflow's actions: a branch becomes a conditional
// jump to its else list, and its then list ends with a jump past the else
// list. Indexes of the flat list are what pending steps, Message-IDs and
// event ids refer to.
type builder struct {
	defs *segmenter.Definitions
	env  *cel.Env
	wf   *Workflow
	errs []error
}

func (b *builder) fail(label string, err error) {
	b.errs = append(b.errs, fmt.Errorf("%s%w", label, err))
}

func (b *builder) add(specs []ActionSpec, path string) {
	for i, a := range specs {
		label := fmt.Sprintf("%s[%d]", path, i)
		kinds := 0
		for _, set := range []bool{a.Wait != 0, a.WaitFor != nil, a.Branch != nil, a.Webhook != nil, a.Email != nil, a.Emit != nil, a.SetTraits != nil} {
			if set {
				kinds++
			}
		}
		acts := &b.wf.Actions
		switch {
		case kinds > 1:
			b.fail(label, fmt.Errorf(": one action kind per action (wait, wait_for, branch, webhook, email, emit or set_traits), not %d", kinds))
		case a.Wait < 0:
			b.fail(label, fmt.Errorf(".wait: %s, want > 0", a.Wait))
		case a.Wait > 0:
			*acts = append(*acts, Action{Wait: a.Wait})
		case a.WaitFor != nil:
			b.waitFor(*a.WaitFor, label+".wait_for")
		case a.Branch != nil:
			b.branch(*a.Branch, label+".branch")
		case a.Emit != nil:
			em, errs := validateEmit(*a.Emit)
			b.errsOf(label+".emit.", errs)
			*acts = append(*acts, Action{Emit: em})
		case a.SetTraits != nil:
			em, errs := validateSetTraits(*a.SetTraits)
			b.errsOf(label+".set_traits.", errs)
			*acts = append(*acts, Action{Emit: em})
		case a.Webhook != nil:
			wh, errs := validateWebhook(*a.Webhook)
			b.errsOf(label+".webhook.", errs)
			*acts = append(*acts, Action{Webhook: wh})
		case a.Email != nil:
			em, errs := validateEmail(*a.Email)
			b.errsOf(label+".email.", errs)
			*acts = append(*acts, Action{Email: em})
		default:
			b.fail(label, errors.New(": no action kind given (wait, wait_for, branch, webhook, email, emit or set_traits)"))
		}
	}
}

func (b *builder) errsOf(label string, errs []error) {
	for _, e := range errs {
		b.fail(label, e)
	}
}

func (b *builder) waitFor(s WaitForSpec, label string) {
	tr := Trigger{Segment: s.Segment, On: schemas.Entered}
	if _, ok := b.defs.Segment(s.Segment); !ok {
		b.fail(label, fmt.Errorf(".segment: no segment %q is defined", s.Segment))
	}
	switch s.On {
	case "entered", "":
	case "exited":
		tr.On = schemas.Exited
	default:
		b.fail(label, fmt.Errorf(".on: %q, want entered or exited", s.On))
	}
	if s.Timeout <= 0 {
		b.fail(label, fmt.Errorf(".timeout: %s, want > 0", s.Timeout))
	}
	b.wf.Actions = append(b.wf.Actions, Action{WaitFor: &tr, Wait: s.Timeout})
}

func (b *builder) branch(s BranchSpec, label string) {
	step := &branchStep{src: s.If}
	if strings.TrimSpace(s.If) == "" {
		b.fail(label, errors.New(".if: required"))
	} else if checked, iss := b.env.Compile(s.If); iss.Err() != nil {
		b.fail(label, fmt.Errorf(".if: %v", iss.Err()))
	} else if !checked.OutputType().IsExactType(cel.BoolType) {
		b.fail(label, fmt.Errorf(".if: must be a boolean expression, is %s", checked.OutputType()))
	} else if prg, err := b.env.Program(checked); err != nil {
		b.fail(label, fmt.Errorf(".if: %v", err))
	} else {
		step.prg = prg
	}
	if len(s.Then) == 0 && len(s.Else) == 0 {
		b.fail(label, errors.New(": then or else needs at least one action"))
	}
	b.wf.Actions = append(b.wf.Actions, Action{Branch: step})
	b.add(s.Then, label+".then")
	if len(s.Else) > 0 {
		jump := len(b.wf.Actions)
		b.wf.Actions = append(b.wf.Actions, Action{Goto: -1})
		step.Else = len(b.wf.Actions)
		b.add(s.Else, label+".else")
		b.wf.Actions[jump].Goto = len(b.wf.Actions)
	} else {
		step.Else = len(b.wf.Actions)
	}
}

// eval runs a branch's predicate; an evaluation error (a missing trait
// read without has()) counts as false.
func (s *branchStep) eval(traits map[string]string, consent schemas.Consent, arrived bool, t *schemas.MembershipTransition) (bool, error) {
	if traits == nil {
		traits = map[string]string{}
	}
	cm := map[string]bool{}
	for _, c := range schemas.ConsentCategories {
		cm[c] = consent.Get(c)
	}
	out, _, err := s.prg.Eval(map[string]any{
		"traits": traits, "consent": cm, "arrived": arrived,
		"segment": t.Segment, "transition": strings.ToLower(string(t.Transition)), "reason": t.Reason,
	})
	if err != nil {
		return false, err
	}
	v, ok := out.Value().(bool)
	return ok && v, nil
}
