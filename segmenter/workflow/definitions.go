package workflow

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

// Spec is one workflow as written under `workflows:` in the definitions file.
type Spec struct {
	Name    string      `yaml:"name"`
	Trigger TriggerSpec `yaml:"trigger"`
	// Reentry says when a profile may run the workflow again: every_time
	// (the default), once (ever), or cooldown (not within Cooldown of its
	// last run, in event time).
	Reentry  string        `yaml:"reentry"`
	Cooldown time.Duration `yaml:"cooldown"`
	// FrequencyCap bounds the runs per profile in a sliding window of event
	// time.
	FrequencyCap *CapSpec `yaml:"frequency_cap"`
	// ExitOn ends the profile's waiting runs of the workflow on other
	// transitions (leaving the trigger segment always does).
	ExitOn []TriggerSpec `yaml:"exit_on"`
	// QuietHours delays messages (email, webhook) due in quiet hours.
	QuietHours *QuietHoursSpec `yaml:"quiet_hours"`
	Actions    []ActionSpec    `yaml:"actions"`
}

// CapSpec: at most Max runs per profile within Per.
type CapSpec struct {
	Max int           `yaml:"max"`
	Per time.Duration `yaml:"per"`
}

// TriggerSpec: which transition of which segment starts the workflow.
type TriggerSpec struct {
	Segment string `yaml:"segment"`
	On      string `yaml:"on"` // entered | exited
}

// ActionSpec is one action; exactly one kind is set.
type ActionSpec struct {
	// Wait pauses the run (wall clock); the next actions run after it,
	// unless the run exits meanwhile.
	Wait time.Duration `yaml:"wait"`
	// WaitFor pauses the run until the profile makes a transition (or the
	// timeout); a later branch can test `arrived`.
	WaitFor *WaitForSpec `yaml:"wait_for"`
	// Branch runs Then or Else by a predicate.
	Branch    *BranchSpec    `yaml:"branch"`
	Webhook   *WebhookSpec   `yaml:"webhook"`
	Email     *EmailSpec     `yaml:"email"`
	Emit      *EmitSpec      `yaml:"emit"`
	SetTraits *SetTraitsSpec `yaml:"set_traits"`
}

// WebhookSpec is an HTTP POST of the transition as JSON.
type WebhookSpec struct {
	URL string `yaml:"url"`
	// Secret signs the body (HMAC-SHA256); SecretEnv names an environment
	// variable holding it instead. One of them is required.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the attempts before a failed record (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// Consent is the category the transition's consent snapshot must grant
	// (default marketing).
	Consent string `yaml:"consent"`
}

// Workflow is a validated workflow.
type Workflow struct {
	Name     string
	Segment  string
	On       schemas.Transition
	Reentry  string        // every_time | once | cooldown
	Cooldown time.Duration // with cooldown
	CapMax   int           // 0: no frequency cap
	CapPer   time.Duration
	ExitOn   []Trigger
	Quiet    *QuietHours // nil: none
	Actions  []Action
}

// Trigger is a segment transition.
type Trigger struct {
	Segment string
	On      schemas.Transition
}

// Reentry policies.
const (
	ReentryEveryTime = "every_time"
	ReentryOnce      = "once"
	ReentryCooldown  = "cooldown"
)

// keepsRuns reports whether deciding a run needs the profile's past runs.
func (w *Workflow) keepsRuns() bool { return w.Reentry != ReentryEveryTime || w.CapMax > 0 }

// waits reports whether runs of w can wait (a wait action, quiet hours).
func (w *Workflow) waits() bool {
	return w.Quiet != nil || slices.ContainsFunc(w.Actions, func(a Action) bool { return a.Wait > 0 || a.WaitFor != nil })
}

// branches reports whether w has a branch (whose predicates read traits).
func (w *Workflow) branches() bool {
	return slices.ContainsFunc(w.Actions, func(a Action) bool { return a.Branch != nil })
}

// NeedsRuns reports whether any workflow has a re-entry policy, a
// frequency cap or waits (and so needs the per-profile state, runs.go).
func NeedsRuns(wfs []*Workflow) bool {
	return slices.ContainsFunc(wfs, func(wf *Workflow) bool { return wf.keepsRuns() || wf.waits() })
}

// Action is one validated action of a workflow.
type Action struct {
	Wait    time.Duration // a wait, or wait_for's timeout
	WaitFor *Trigger
	Branch  *branchStep
	Goto    int // > 0: go on at this index (the end of a branch's then)
	Webhook *Webhook
	Email   *Email
	Emit    *Emit // emit and set_traits
}

// Kind names the action kind (metrics label).
func (a Action) Kind() string {
	switch {
	case a.WaitFor != nil:
		return "wait_for"
	case a.Wait > 0:
		return "wait"
	case a.Branch != nil:
		return "branch"
	case a.Goto > 0:
		return "goto"
	case a.Email != nil:
		return "email"
	case a.Emit != nil:
		return a.Emit.kindName
	}
	return "webhook"
}

// Consent is the consent category the action requires.
func (a Action) Consent() string {
	switch {
	case a.Wait > 0 || a.Branch != nil || a.Goto > 0:
		return ""
	case a.Email != nil:
		return a.Email.Consent
	case a.Emit != nil:
		return a.Emit.Consent
	}
	return a.Webhook.Consent
}

// NeedsContacts reports whether any workflow sends e-mail, emits events or
// waits (and so needs the contact directory, see contacts.go).
func NeedsContacts(wfs []*Workflow) bool {
	return needsProfiles(wfs) || anyAction(wfs, func(a Action) bool { return a.Email != nil || a.Branch != nil })
}

// needsProfiles reports whether the contact directory must keep every
// consented profile's identifiers, latest consent and time zone: to emit
// events as the profile, and to re-check consent and place quiet hours
// after a wait.
func needsProfiles(wfs []*Workflow) bool {
	return slices.ContainsFunc(wfs, (*Workflow).waits) || anyAction(wfs, func(a Action) bool { return a.Emit != nil })
}

func anyAction(wfs []*Workflow, f func(Action) bool) bool {
	for _, wf := range wfs {
		if slices.ContainsFunc(wf.Actions, f) {
			return true
		}
	}
	return false
}

// Webhook is a validated webhook action.
type Webhook struct {
	URL         string
	Secret      []byte
	Timeout     time.Duration
	MaxAttempts int
	Consent     string
}

// Parse validates the workflows of loaded definitions; every problem is
// reported, each naming the workflow and the faulty part.
func Parse(defs *segmenter.Definitions) ([]*Workflow, error) {
	if defs.Workflows.Kind == 0 {
		return nil, nil
	}
	raw, err := yaml.Marshal(&defs.Workflows)
	if err != nil {
		return nil, fmt.Errorf("workflows: %w", err)
	}
	var specs []Spec
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&specs); err != nil {
		return nil, fmt.Errorf("workflows: parsing YAML: %w", err)
	}
	var (
		out  []*Workflow
		errs []error
		seen = map[string]bool{}
	)
	for i, s := range specs {
		label := fmt.Sprintf("workflow %q", s.Name)
		if s.Name == "" {
			label = fmt.Sprintf("workflows[%d]", i)
		}
		wf, werrs := validate(defs, s)
		if s.Name == "" {
			werrs = append([]error{errors.New("name: required")}, werrs...)
		} else if seen[s.Name] {
			werrs = append([]error{errors.New("name: defined twice")}, werrs...)
		}
		seen[s.Name] = true
		for _, e := range werrs {
			errs = append(errs, fmt.Errorf("%s: %w", label, e))
		}
		if len(werrs) == 0 {
			out = append(out, wf)
		}
	}
	return out, errors.Join(errs...)
}

func validate(defs *segmenter.Definitions, s Spec) (*Workflow, []error) {
	var errs []error
	wf := &Workflow{Name: s.Name, Segment: s.Trigger.Segment}
	if s.Trigger.Segment == "" {
		errs = append(errs, errors.New("trigger.segment: required"))
	} else if _, ok := defs.Segment(s.Trigger.Segment); !ok {
		errs = append(errs, fmt.Errorf("trigger.segment: no segment %q is defined", s.Trigger.Segment))
	}
	switch s.Trigger.On {
	case "entered", "":
		wf.On = schemas.Entered
	case "exited":
		wf.On = schemas.Exited
	default:
		errs = append(errs, fmt.Errorf("trigger.on: %q, want entered or exited", s.Trigger.On))
	}
	wf.Reentry, wf.Cooldown = s.Reentry, s.Cooldown
	switch s.Reentry {
	case "":
		wf.Reentry = ReentryEveryTime
	case ReentryEveryTime, ReentryOnce:
	case ReentryCooldown:
		if s.Cooldown <= 0 {
			errs = append(errs, fmt.Errorf("cooldown: %s, want > 0 with reentry cooldown", s.Cooldown))
		}
	default:
		errs = append(errs, fmt.Errorf("reentry: %q, want every_time, once or cooldown", s.Reentry))
	}
	if s.Cooldown != 0 && s.Reentry != ReentryCooldown {
		errs = append(errs, fmt.Errorf("cooldown: given with reentry %q (want reentry: cooldown)", wf.Reentry))
	}
	if c := s.FrequencyCap; c != nil {
		wf.CapMax, wf.CapPer = c.Max, c.Per
		if c.Max < 1 {
			errs = append(errs, fmt.Errorf("frequency_cap.max: %d, want >= 1", c.Max))
		}
		if c.Per <= 0 {
			errs = append(errs, fmt.Errorf("frequency_cap.per: %s, want > 0", c.Per))
		}
		if c.Max > maxRunsKept {
			errs = append(errs, fmt.Errorf("frequency_cap.max: %d, want at most %d", c.Max, maxRunsKept))
		}
	}
	for i, e := range s.ExitOn {
		tr := Trigger{Segment: e.Segment, On: schemas.Entered}
		if _, ok := defs.Segment(e.Segment); !ok {
			errs = append(errs, fmt.Errorf("exit_on[%d].segment: no segment %q is defined", i, e.Segment))
		}
		switch e.On {
		case "entered", "":
		case "exited":
			tr.On = schemas.Exited
		default:
			errs = append(errs, fmt.Errorf("exit_on[%d].on: %q, want entered or exited", i, e.On))
		}
		wf.ExitOn = append(wf.ExitOn, tr)
	}
	if s.QuietHours != nil {
		q, qerrs := validateQuietHours(*s.QuietHours)
		wf.Quiet = q
		errs = append(errs, qerrs...)
	}
	if len(s.Actions) == 0 {
		errs = append(errs, errors.New("actions: at least one is required"))
	}
	if len(s.Actions) > 0 {
		env, err := newBranchEnv()
		if err != nil {
			return wf, append(errs, fmt.Errorf("building the branch expression environment: %w", err))
		}
		b := &builder{defs: defs, env: env, wf: wf}
		b.add(s.Actions, "actions")
		errs = append(errs, b.errs...)
	}
	return wf, errs
}

func validateWebhook(s WebhookSpec) (*Webhook, []error) {
	var errs []error
	w := &Webhook{URL: s.URL, Timeout: s.Timeout, MaxAttempts: s.MaxAttempts, Consent: s.Consent}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an absolute http(s) URL", s.URL))
	}
	switch {
	case s.Secret != "" && s.SecretEnv != "":
		errs = append(errs, errors.New("secret: give secret or secret_env, not both"))
	case s.SecretEnv != "":
		v, ok := os.LookupEnv(s.SecretEnv)
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("secret_env: environment variable %s is not set", s.SecretEnv))
		}
		w.Secret = []byte(v)
	case s.Secret != "":
		w.Secret = []byte(s.Secret)
	default:
		errs = append(errs, errors.New("secret: required (or secret_env) to sign the body"))
	}
	if w.Timeout == 0 {
		w.Timeout = 10 * time.Second
	}
	if w.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s, want > 0", s.Timeout))
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 5
	}
	if w.MaxAttempts < 1 || w.MaxAttempts > 50 {
		errs = append(errs, fmt.Errorf("max_attempts: %d, want 1 to 50", s.MaxAttempts))
	}
	if w.Consent == "" {
		w.Consent = "marketing"
	}
	if !slices.Contains(schemas.ConsentCategories, w.Consent) {
		errs = append(errs, fmt.Errorf("consent: %q, want one of %v", s.Consent, schemas.ConsentCategories))
	}
	return w, errs
}
