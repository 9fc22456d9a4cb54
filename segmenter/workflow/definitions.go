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
	Name    string       `yaml:"name"`
	Trigger TriggerSpec  `yaml:"trigger"`
	Actions []ActionSpec `yaml:"actions"`
}

// TriggerSpec: which transition of which segment starts the workflow.
type TriggerSpec struct {
	Segment string `yaml:"segment"`
	On      string `yaml:"on"` // entered | exited
}

// ActionSpec is one action; exactly one kind is set.
type ActionSpec struct {
	Webhook *WebhookSpec `yaml:"webhook"`
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
	Name    string
	Segment string
	On      schemas.Transition
	Actions []Action
}

// Action is one validated action of a workflow.
type Action struct {
	Webhook *Webhook
}

// Kind names the action kind (metrics label).
func (a Action) Kind() string { return "webhook" }

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
	if len(s.Actions) == 0 {
		errs = append(errs, errors.New("actions: at least one is required"))
	}
	for i, a := range s.Actions {
		if a.Webhook == nil {
			errs = append(errs, fmt.Errorf("actions[%d]: no action kind given (webhook)", i))
			continue
		}
		wh, err := validateWebhook(*a.Webhook)
		for _, e := range err {
			errs = append(errs, fmt.Errorf("actions[%d].webhook.%w", i, e))
		}
		wf.Actions = append(wf.Actions, Action{Webhook: wh})
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
