package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"os"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/sillage/sillage/schemas"
)

// EmailSpec is an e-mail sent over SMTP from templates, to the address held
// in one of the profile's traits.
type EmailSpec struct {
	SMTP SMTPSpec `yaml:"smtp"`
	// From is the sender, e.g. `Shop <shop@example.com>`.
	From    string `yaml:"from"`
	ReplyTo string `yaml:"reply_to"`
	// ToTrait names the trait holding the recipient's address (default email).
	ToTrait string `yaml:"to_trait"`
	// Subject and Text are Go text/templates, HTML a Go html/template (at
	// least one of Text and HTML); their data is EmailData.
	Subject string `yaml:"subject"`
	Text    string `yaml:"text"`
	HTML    string `yaml:"html"`
	// MessageIDDomain is the right-hand side of the Message-ID (default: the
	// From address's domain).
	MessageIDDomain string `yaml:"message_id_domain"`
	// MaxAttempts bounds the attempts before a failed record (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// Consent is the category the transition's consent snapshot must grant
	// (default marketing).
	Consent string `yaml:"consent"`
}

// SMTPSpec is how to reach the SMTP server. Secrets come from the
// environment only (password_env).
type SMTPSpec struct {
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 25 (none), 587 (starttls), 465 (tls).
	Port int `yaml:"port"`
	// TLS is none (plain text), starttls (STARTTLS required, the default) or
	// tls (implicit TLS from the first byte).
	TLS string `yaml:"tls"`
	// TLSCAFile is a PEM file of the CAs to trust for the server's
	// certificate (default: the system's).
	TLSCAFile string `yaml:"tls_ca_file"`
	// Username (or UsernameEnv) and PasswordEnv enable SMTP AUTH.
	Username    string `yaml:"username"`
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
	// Auth is the mechanism when authenticating: plain (default), login,
	// cram-md5 or auto (the strongest the server offers).
	Auth string `yaml:"auth"`
	// Timeout bounds one attempt, connection to QUIT (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Email is a validated e-mail action.
type Email struct {
	SMTP            SMTP
	From            string
	ReplyTo         string
	ToTrait         string
	MessageIDDomain string
	MaxAttempts     int
	Consent         string

	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// SMTP is a validated SMTP server configuration.
type SMTP struct {
	Host     string
	Port     int
	TLS      string
	RootCAs  *x509.CertPool // nil: the system's
	Username string
	Password string
	Auth     gomail.SMTPAuthType
	Timeout  time.Duration
}

// EmailData is what the templates see: the transition and the profile's
// traits (as the contact directory last saw them; a missing trait is "").
type EmailData struct {
	Workflow     string
	Segment      string
	Transition   string // entered | exited
	TransitionID string
	ProfileID    string
	Reason       string
	EventTime    time.Time
	EvaluatedAt  time.Time
	To           string
	Traits       map[string]string
}

func validateEmail(s EmailSpec) (*Email, []error) {
	var errs []error
	e := &Email{From: s.From, ReplyTo: s.ReplyTo, ToTrait: s.ToTrait, MessageIDDomain: s.MessageIDDomain,
		MaxAttempts: s.MaxAttempts, Consent: s.Consent}
	smtp, serrs := validateSMTP(s.SMTP)
	e.SMTP = smtp
	for _, err := range serrs {
		errs = append(errs, fmt.Errorf("smtp.%w", err))
	}
	from, err := mail.ParseAddress(s.From)
	switch {
	case s.From == "":
		errs = append(errs, errors.New("from: required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("from: %q is not an e-mail address: %v", s.From, err))
	}
	if s.ReplyTo != "" {
		if _, err := mail.ParseAddress(s.ReplyTo); err != nil {
			errs = append(errs, fmt.Errorf("reply_to: %q is not an e-mail address: %v", s.ReplyTo, err))
		}
	}
	if e.ToTrait == "" {
		e.ToTrait = "email"
	}
	if e.MessageIDDomain == "" && from != nil {
		if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
			e.MessageIDDomain = from.Address[at+1:]
		}
	}
	if strings.ContainsAny(e.MessageIDDomain, "<>@ \t\r\n") {
		errs = append(errs, fmt.Errorf("message_id_domain: %q is not a domain", e.MessageIDDomain))
	}
	if e.MaxAttempts == 0 {
		e.MaxAttempts = 5
	}
	if e.MaxAttempts < 1 || e.MaxAttempts > 50 {
		errs = append(errs, fmt.Errorf("max_attempts: %d, want 1 to 50", s.MaxAttempts))
	}
	if e.Consent == "" {
		e.Consent = "marketing"
	}
	if !slices.Contains(schemas.ConsentCategories, e.Consent) {
		errs = append(errs, fmt.Errorf("consent: %q, want one of %v", s.Consent, schemas.ConsentCategories))
	}
	errs = append(errs, e.parseTemplates(s)...)
	return e, errs
}

func validateSMTP(s SMTPSpec) (SMTP, []error) {
	var errs []error
	c := SMTP{Host: s.Host, Port: s.Port, TLS: s.TLS, Username: s.Username, Timeout: s.Timeout}
	if s.Host == "" {
		errs = append(errs, errors.New("host: required"))
	}
	if c.TLS == "" {
		c.TLS = "starttls"
	}
	defPort := map[string]int{"none": 25, "starttls": 587, "tls": 465}
	if p, ok := defPort[c.TLS]; !ok {
		errs = append(errs, fmt.Errorf("tls: %q, want none, starttls or tls", s.TLS))
	} else if c.Port == 0 {
		c.Port = p
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d, want 1 to 65535", s.Port))
	}
	if s.TLSCAFile != "" {
		pem, err := os.ReadFile(s.TLSCAFile)
		c.RootCAs = x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("tls_ca_file: %v", err))
		case !c.RootCAs.AppendCertsFromPEM(pem):
			errs = append(errs, fmt.Errorf("tls_ca_file: %s holds no PEM certificate", s.TLSCAFile))
		}
		if c.TLS == "none" {
			errs = append(errs, errors.New("tls_ca_file: given with tls none"))
		}
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s, want > 0", s.Timeout))
	}
	switch {
	case s.Username != "" && s.UsernameEnv != "":
		errs = append(errs, errors.New("username: give username or username_env, not both"))
	case s.UsernameEnv != "":
		v, ok := os.LookupEnv(s.UsernameEnv)
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("username_env: environment variable %s is not set", s.UsernameEnv))
		}
		c.Username = v
	}
	authed := s.Username != "" || s.UsernameEnv != ""
	switch {
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok || v == "" {
			errs = append(errs, fmt.Errorf("password_env: environment variable %s is not set", s.PasswordEnv))
		}
		c.Password = v
		if !authed {
			errs = append(errs, errors.New("password_env: given without username (or username_env)"))
		}
	case authed:
		errs = append(errs, errors.New("password_env: required with a username (passwords come from the environment only)"))
	}
	auths := map[string]gomail.SMTPAuthType{"plain": gomail.SMTPAuthPlain, "login": gomail.SMTPAuthLogin,
		"cram-md5": gomail.SMTPAuthCramMD5, "auto": gomail.SMTPAuthAutoDiscover}
	name := s.Auth
	if name == "" {
		name = "plain"
	}
	if a, ok := auths[name]; !ok {
		errs = append(errs, fmt.Errorf("auth: %q, want plain, login, cram-md5 or auto", s.Auth))
	} else if authed {
		c.Auth = a
	}
	if c.Auth == gomail.SMTPAuthPlain && c.TLS == "none" && authed && !isLoopback(c.Host) {
		errs = append(errs, errors.New("tls: none would send the password in clear text to a remote server; use starttls or tls"))
	}
	return c, errs
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// parseTemplates parses the templates and runs them once on sample data, so
// that a misspelt field (`.Trait`) is an error at load, not at send.
func (e *Email) parseTemplates(s EmailSpec) []error {
	var errs []error
	sample := EmailData{Workflow: "w", Segment: "s", Transition: "entered", TransitionID: "t", ProfileID: "p",
		EventTime: time.Unix(0, 0).UTC(), EvaluatedAt: time.Unix(0, 0).UTC(), To: "a@example.com",
		Traits: map[string]string{e.ToTrait: "a@example.com"}}
	text := func(field, src string) *texttemplate.Template {
		t, err := texttemplate.New(field).Option("missingkey=zero").Parse(src)
		if err == nil {
			err = t.Execute(&bytes.Buffer{}, sample)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", field, err))
			return nil
		}
		return t
	}
	if strings.TrimSpace(s.Subject) == "" {
		errs = append(errs, errors.New("subject: required"))
	} else {
		e.subject = text("subject", s.Subject)
	}
	if s.Text == "" && s.HTML == "" {
		errs = append(errs, errors.New("text, html: at least one body is required"))
	}
	if s.Text != "" {
		e.text = text("text", s.Text)
	}
	if s.HTML != "" {
		t, err := htmltemplate.New("html").Option("missingkey=zero").Parse(s.HTML)
		if err == nil {
			err = t.Execute(&bytes.Buffer{}, sample)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("html: %v", err))
		} else {
			e.html = t
		}
	}
	return errs
}

// MessageID is the stable Message-ID (without angle brackets) of the e-mail
// that action index of workflow sends for a transition: a resend of the same
// e-mail (after a crash inside the SMTP exchange) carries the same id.
func MessageID(transitionID, workflow string, index int, domain string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d", transitionID, workflow, index)
	return hex.EncodeToString(h.Sum(nil)[:20]) + "@" + domain
}

// render builds the message.
func (e *Email) render(d EmailData, messageID string, now time.Time) (*gomail.Msg, error) {
	var subj, text, html bytes.Buffer
	if err := e.subject.Execute(&subj, d); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(d.To); err != nil {
		return nil, fmt.Errorf("to %q: %w", d.To, err)
	}
	if e.ReplyTo != "" {
		if err := m.ReplyTo(e.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply_to: %w", err)
		}
	}
	// One line: a trait with a line break cannot add headers.
	m.Subject(strings.Join(strings.Fields(subj.String()), " "))
	m.SetMessageIDWithValue(messageID)
	m.SetDateWithValue(now)
	m.SetGenHeader(gomail.Header(WorkflowHeader), d.Workflow)
	m.SetGenHeader(gomail.Header("X-Sillage-Transition"), d.TransitionID)
	m.SetUserAgent("sillage-workflow")
	if e.text != nil {
		if err := e.text.Execute(&text, d); err != nil {
			return nil, fmt.Errorf("text: %w", err)
		}
		m.SetBodyString(gomail.TypeTextPlain, text.String())
	}
	if e.html != nil {
		if err := e.html.Execute(&html, d); err != nil {
			return nil, fmt.Errorf("html: %w", err)
		}
		if e.text != nil {
			m.AddAlternativeString(gomail.TypeTextHTML, html.String())
		} else {
			m.SetBodyString(gomail.TypeTextHTML, html.String())
		}
	}
	return m, nil
}

// client returns a client for one attempt.
func (c SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(c.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12})}
	switch c.TLS {
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	}
	if c.Auth != "" {
		opts = append(opts, gomail.WithSMTPAuth(c.Auth), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	return gomail.NewClient(c.Host, opts...)
}

// send makes one delivery attempt. Errors a retry cannot fix (a 5xx answer,
// a message that cannot be built) are errPermanent.
func (e *Email) send(ctx context.Context, m *gomail.Msg) error {
	cl, err := e.SMTP.client()
	if err != nil {
		return errPermanent{fmt.Errorf("SMTP client for %s:%d: %w", e.SMTP.Host, e.SMTP.Port, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, e.SMTP.Timeout)
	defer cancel()
	if err := cl.DialAndSendWithContext(ctx, m); err != nil {
		err = fmt.Errorf("SMTP %s:%d: %w", e.SMTP.Host, e.SMTP.Port, err)
		var se *gomail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return errPermanent{err}
		}
		return err
	}
	return nil
}

// sendEmail sends action i of wf for t. skip is the outcome when nothing
// was to be sent ("no_address": no usable address in the profile's traits).
func (c *Consumer) sendEmail(ctx context.Context, t *schemas.MembershipTransition, wf *Workflow, i int, e *Email) (attempts int, skip string, err error) {
	traits := c.contacts.lookup(ctx, t.ProfileID, time.UnixMilli(t.EvaluatedAt))
	to := traits[e.ToTrait]
	if to == "" {
		c.log.Info("e-mail skipped: the profile has no address", "workflow", wf.Name, "action", i,
			"transition", t.ID, "trait", e.ToTrait, "profile_known", traits != nil)
		return 0, "no_address", nil
	}
	if addr, perr := mail.ParseAddress(to); perr != nil || strings.ContainsAny(addr.Address, "\r\n") {
		c.log.Info("e-mail skipped: the profile's address is not one", "workflow", wf.Name, "action", i,
			"transition", t.ID, "trait", e.ToTrait, "err", perr)
		return 0, "no_address", nil
	}
	d := EmailData{
		Workflow: wf.Name, Segment: t.Segment, Transition: strings.ToLower(string(t.Transition)), TransitionID: t.ID,
		ProfileID: t.ProfileID, Reason: t.Reason, EventTime: time.UnixMilli(t.EventTime).UTC(),
		EvaluatedAt: time.UnixMilli(t.EvaluatedAt).UTC(), To: to, Traits: traits,
	}
	id := MessageID(t.ID, wf.Name, i, e.MessageIDDomain)
	attempts, err = c.send.retry(ctx, "email", e.MaxAttempts, func(int) (time.Duration, error) {
		m, err := e.render(d, id, c.now())
		if err != nil {
			return 0, errPermanent{fmt.Errorf("rendering: %w", err)}
		}
		return 0, e.send(ctx, m)
	})
	return attempts, "", err
}
