package workflow

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/testmailpit"
	"github.com/sillage/sillage/schemas"
	"github.com/sillage/sillage/segmenter"
)

func TestParseEmail(t *testing.T) {
	t.Setenv("SMTP_PASSWORD", "pw")
	wfs, err := parse(t, `
workflows:
  - name: remind
    trigger: {segment: cart_abandoned}
    actions:
      - email:
          smtp: &shop {host: smtp.example.com, username: shop, password_env: SMTP_PASSWORD}
          from: "Shop <shop@example.com>"
          subject: "{{.Traits.first_name}}, your cart"
          text: "Hello {{.Traits.first_name}}, segment {{.Segment}} since {{.EventTime.Format \"2006-01-02\"}}"
      - email:
          smtp: *shop
          from: shop@example.com
          to_trait: work_email
          subject: s
          html: "<p>{{.Traits.first_name}}</p>"
          consent: necessary
          max_attempts: 2
`)
	require.NoError(t, err)
	e := wfs[0].Actions[0].Email
	require.Equal(t, "email", wfs[0].Actions[0].Kind())
	require.Equal(t, SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls", Username: "shop", Password: "pw",
		Auth: "PLAIN", Timeout: 30 * time.Second}, e.SMTP, "defaults; the YAML anchor is reused by the second action")
	require.Equal(t, "email", e.ToTrait)
	require.Equal(t, "example.com", e.MessageIDDomain, "from the From address")
	require.Equal(t, 5, e.MaxAttempts)
	require.Equal(t, "marketing", e.Consent)
	e2 := wfs[0].Actions[1].Email
	require.Equal(t, e.SMTP, e2.SMTP)
	require.Equal(t, "work_email", e2.ToTrait)
	require.Equal(t, "necessary", e2.Consent)
	require.True(t, NeedsContacts(wfs))

	for name, tc := range map[string]struct {
		action string
		want   []string
	}{
		"nothing": {`{}`, []string{
			`workflow "w": actions[0].email.smtp.host: required`,
			`workflow "w": actions[0].email.from: required`,
			`workflow "w": actions[0].email.subject: required`,
			`workflow "w": actions[0].email.text, html: at least one body is required`}},
		"bad values": {`{smtp: {host: h, port: 70000, tls: ssl, auth: magic, timeout: -1s}, from: "not an address", reply_to: "x", subject: s, text: t, max_attempts: 99, consent: spam}`, []string{
			`workflow "w": actions[0].email.smtp.tls: "ssl", want none, starttls or tls`,
			`workflow "w": actions[0].email.smtp.port: 70000, want 1 to 65535`,
			`workflow "w": actions[0].email.smtp.timeout: -1s, want > 0`,
			`workflow "w": actions[0].email.smtp.auth: "magic", want plain, login, cram-md5 or auto`,
			`workflow "w": actions[0].email.from: "not an address" is not an e-mail address`,
			`workflow "w": actions[0].email.reply_to: "x" is not an e-mail address`,
			`workflow "w": actions[0].email.max_attempts: 99, want 1 to 50`,
			`workflow "w": actions[0].email.consent: "spam"`}},
		"secrets": {`{smtp: {host: h, username: u}, from: a@b.c, subject: s, text: t}`, []string{
			`workflow "w": actions[0].email.smtp.password_env: required with a username (passwords come from the environment only)`}},
		"unset env": {`{smtp: {host: h, username_env: NO_SUCH_VAR_1, password_env: NO_SUCH_VAR_2}, from: a@b.c, subject: s, text: t}`, []string{
			`workflow "w": actions[0].email.smtp.username_env: environment variable NO_SUCH_VAR_1 is not set`,
			`workflow "w": actions[0].email.smtp.password_env: environment variable NO_SUCH_VAR_2 is not set`}},
		"clear-text password": {`{smtp: {host: smtp.example.com, tls: none, username: u, password_env: SMTP_PASSWORD}, from: a@b.c, subject: s, text: t}`, []string{
			`workflow "w": actions[0].email.smtp.tls: none would send the password in clear text to a remote server`}},
		"template syntax": {`{smtp: {host: h}, from: a@b.c, subject: "{{.Traits.x", text: t}`, []string{
			`workflow "w": actions[0].email.subject: template: subject:1: unclosed action`}},
		"template field": {`{smtp: {host: h}, from: a@b.c, subject: s, text: "{{.Trait.name}}", html: "{{.Nope}}"}`, []string{
			`workflow "w": actions[0].email.text: template: text:1:8: executing "text" at <.Trait.name>: can't evaluate field Trait`,
			`workflow "w": actions[0].email.html: template: html:1:2: executing "html" at <.Nope>: can't evaluate field Nope`}},
		"two kinds": {`{smtp: {host: h}, from: a@b.c, subject: s, text: t}
        webhook: {url: "http://x/", secret: s}`, []string{`workflow "w": actions[0]: one action kind per action (wait, wait_for, branch, webhook, email, emit or set_traits), not 2`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(t, `
workflows:
  - name: w
    trigger: {segment: cart_abandoned}
    actions:
      - email: `+tc.action+"\n")
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestMessageIDStable(t *testing.T) {
	a := MessageID("t-1", "remind", 0, "shop.example")
	require.Equal(t, a, MessageID("t-1", "remind", 0, "shop.example"))
	require.NotEqual(t, a, MessageID("t-1", "remind", 1, "shop.example"))
	require.NotEqual(t, a, MessageID("t-1", "other", 0, "shop.example"))
	require.NotEqual(t, a, MessageID("t-2", "remind", 0, "shop.example"))
	require.Regexp(t, `^[0-9a-f]{40}@shop\.example$`, a)
}

func TestEventTraits(t *testing.T) {
	ev := &schemas.EnrichedEvent{Raw: schemas.RawEvent{Type: "identify",
		TraitsJSON:  `{"email":"a@example.com","age":42,"vip":true,"address":{"city":"x"},"":"empty"}`,
		ContextJSON: `{"traits":{"first_name":"Ann","email":"old@example.com"}}`}}
	require.Equal(t, map[string]string{"email": "a@example.com", "age": "42", "vip": "true", "first_name": "Ann"}, eventTraits(ev),
		"identify traits win over context.traits; nested values are not kept")
	ev.Raw.Type = "track"
	require.Equal(t, map[string]string{"email": "old@example.com", "first_name": "Ann"}, eventTraits(ev),
		"a track event's own traits field is not the person's")
}

// mailEnv is a kfake cluster with the enriched, membership and failed
// topics.
type mailEnv struct {
	kcfg  kafka.Config
	serde *schemas.Serde
	cl    *kgo.Client
}

func newMailEnv(tb testing.TB) *mailEnv {
	tb.Helper()
	tp := testTopics()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, tp.Raw, tp.Enriched, tp.Membership, tp.Failed))
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	kcfg.Partitions = 2
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	require.NoError(tb, err)
	tb.Cleanup(cl.Close)
	topics := map[schemas.Kind]string{schemas.KindRaw: tp.Raw, schemas.KindEnriched: tp.Enriched, schemas.KindMembership: tp.Membership, schemas.KindFailed: tp.Failed}
	s, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(topics), topics)
	require.NoError(tb, err)
	return &mailEnv{kcfg: kcfg, serde: s, cl: cl}
}

func (e *mailEnv) identify(tb testing.TB, profile, traits string, c schemas.Consent) {
	tb.Helper()
	e.enriched(tb, &schemas.EnrichedEvent{Raw: schemas.RawEvent{EventID: "id-" + profile + traits, Type: "identify", UserID: profile,
		TraitsJSON: traits, Consent: c}, ProfileID: profile, EventTime: time.Now().UnixMilli()})
}

func (e *mailEnv) enriched(tb testing.TB, ev *schemas.EnrichedEvent) {
	tb.Helper()
	profile := ev.ProfileID
	v, err := e.serde.Encode(schemas.KindEnriched, ev, nil)
	require.NoError(tb, err)
	require.NoError(tb, e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: testTopics().Enriched, Key: []byte(profile), Value: v}).FirstErr())
}

func (e *mailEnv) transition(tb testing.TB, ts ...*schemas.MembershipTransition) {
	tb.Helper()
	for _, t := range ts {
		t.EvaluatedAt = time.Now().UnixMilli()
		v, err := e.serde.Encode(schemas.KindMembership, t, nil)
		require.NoError(tb, err)
		require.NoError(tb, e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: testTopics().Membership, Key: []byte(t.ProfileID), Value: v}).FirstErr())
	}
}

func (e *mailEnv) consumer(tb testing.TB, action string) (*Consumer, *prometheus.Registry, func()) {
	tb.Helper()
	defs, err := segmenter.ParseDefinitions([]byte(segmentsYAML + `
workflows:
  - name: remind
    trigger: {segment: cart_abandoned, on: entered}
    actions:
      - email:
` + action))
	require.NoError(tb, err)
	cfg := DefaultConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := New(e.kcfg, cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
		Serde: e.serde, Topics: testTopics(), Definitions: defs})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			require.NoError(tb, err)
		case <-time.After(15 * time.Second):
			tb.Fatal("Run did not return after cancel")
		}
	}
	tb.Cleanup(stop)
	require.Eventually(tb, c.Ready, 15*time.Second, 10*time.Millisecond)
	return c, reg, stop
}

var marketing = schemas.Consent{Necessary: true, Personalisation: true, Marketing: true}

func TestEmailSentOverSMTP(t *testing.T) {
	mp := testmailpit.Start(t)
	e := newMailEnv(t)
	e.identify(t, "alice", `{"email":"alice@example.com","first_name":"Alice"}`, marketing)
	e.identify(t, "bob", `{"first_name":"Bob"}`, marketing) // no address
	e.identify(t, "carol", `{"email":"carol@example.com"}`, marketing)
	e.identify(t, "carol", `{}`, schemas.Consent{Necessary: true}) // withdraws personalisation: forgotten
	action := fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: none, timeout: 5s}
          from: "Shop <shop@shop.example>"
          subject: "{{.Traits.first_name}}, your cart is waiting"
          text: "Hello {{.Traits.first_name}} ({{.To}}), {{.Segment}}."
          html: "<p>Hello {{.Traits.first_name}} {{.Traits.missing}}<script>{{.Reason}}</script></p>"
`, mp.SMTPPort)
	_, reg, stop := e.consumer(t, action)
	e.transition(t,
		sampleTransition("t-1", "alice", true),
		sampleTransition("t-2", "bob", true),
		sampleTransition("t-3", "alice", false), // no marketing consent
		sampleTransition("t-4", "carol", true),
		sampleTransition("t-5", "nobody", true),
	)
	done := map[string]string{"action": "email", "outcome": "done"}
	noAddr := map[string]string{"action": "email", "outcome": "no_address"}
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_transitions_in_total", nil) == 5 &&
			counter(t, reg, "sillage_workflow_actions_total", done)+counter(t, reg, "sillage_workflow_actions_total", noAddr) == 4
	}, 20*time.Second, 20*time.Millisecond)
	stop()
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_actions_total", done))
	require.Equal(t, 3.0, counter(t, reg, "sillage_workflow_actions_total", noAddr), "bob (no email trait), carol (forgotten), nobody")
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "email", "outcome": "no_consent"}))

	msgs := mp.Messages(t)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, "alice@example.com", m.To[0].Address)
	require.Equal(t, "shop@shop.example", m.From.Address)
	require.Equal(t, "Alice, your cart is waiting", m.Subject)
	require.Equal(t, "Hello Alice (alice@example.com), cart_abandoned.", strings.TrimSpace(m.Text))
	require.Contains(t, m.HTML, "<p>Hello Alice <script>", "a missing trait is empty")
	require.Contains(t, m.HTML, `"no order"`, "html/template escapes by context")
	require.Equal(t, MessageID("t-1", "remind", 0, "shop.example"), m.MessageID)
	h := mp.Headers(t, m.ID)
	require.Equal(t, []string{"t-1"}, h["X-Sillage-Transition"])
	require.Equal(t, []string{"remind"}, h["X-Sillage-Workflow"])
}

// TestEmailTLSAuth: STARTTLS required, then implicit TLS; a private CA;
// SMTP AUTH with the password from the environment.
func TestEmailTLSAuth(t *testing.T) {
	for _, mode := range []struct{ tls, flag string }{{"starttls", "--smtp-require-starttls"}, {"tls", "--smtp-require-tls"}} {
		t.Run(mode.tls, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := selfSigned(t, dir)
			authFile := filepath.Join(dir, "auth")
			require.NoError(t, os.WriteFile(authFile, []byte("shop:s3cret\n"), 0o600))
			mp := testmailpit.Start(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, mode.flag,
				"--smtp-auth-file", authFile)
			t.Setenv("E2E_SMTP_PASSWORD", "s3cret")
			e := newMailEnv(t)
			e.identify(t, "alice", `{"email":"alice@example.com"}`, marketing)
			_, reg, stop := e.consumer(t, fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: %s, tls_ca_file: %s, username: shop, password_env: E2E_SMTP_PASSWORD}
          from: shop@shop.example
          subject: hi
          text: hello
`, mp.SMTPPort, mode.tls, certFile))
			e.transition(t, sampleTransition("t-1", "alice", true))
			require.Eventually(t, func() bool {
				return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "email", "outcome": "done"}) == 1
			}, 20*time.Second, 20*time.Millisecond)
			stop()
			require.Len(t, mp.To(t, "alice@example.com"), 1)
		})
	}
}

// TestEmailFailures: a refused recipient (5xx) is not retried; a server
// that cannot be reached is retried up to max_attempts; both end as failed
// records and the transitions are committed.
func TestEmailFailures(t *testing.T) {
	mp := testmailpit.Start(t, "--smtp-allowed-recipients", `@example\.com$`)
	e := newMailEnv(t)
	e.identify(t, "alice", `{"email":"alice@refused.example"}`, marketing)
	_, reg, stop := e.consumer(t, fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: none, timeout: 2s}
          from: shop@shop.example
          subject: hi
          text: hello
          max_attempts: 3
`, mp.SMTPPort))
	e.transition(t, sampleTransition("t-1", "alice", true))
	failed := map[string]string{"action": "email", "outcome": "failed"}
	require.Eventually(t, func() bool { return counter(t, reg, "sillage_workflow_actions_total", failed) == 1 },
		20*time.Second, 20*time.Millisecond)
	require.Equal(t, 1.0, counter(t, reg, "sillage_workflow_attempts_total", map[string]string{"action": "email", "result": "failed"}))
	require.Equal(t, 0.0, counter(t, reg, "sillage_workflow_attempts_total", map[string]string{"action": "email", "result": "retry"}), "5xx: permanent")
	stop()

	// Nothing listens on this port: retried, then failed.
	_, reg2, stop2 := e.consumer(t, fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: none, timeout: 2s}
          from: shop@shop.example
          subject: hi
          text: hello
          max_attempts: 3
`, testmailpit.FreePort(t)))
	e.transition(t, sampleTransition("t-2", "alice", true))
	require.Eventually(t, func() bool { return counter(t, reg2, "sillage_workflow_actions_total", failed) == 1 },
		20*time.Second, 20*time.Millisecond)
	require.Equal(t, 2.0, counter(t, reg2, "sillage_workflow_attempts_total", map[string]string{"action": "email", "result": "retry"}))
	stop2()
	require.Empty(t, mp.Messages(t))

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(testTopics().Failed),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var fails []*schemas.FailedEvent
	for len(fails) < 2 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, fs.Err())
		for _, r := range fs.Records() {
			f, err := e.serde.DecodeFailed(ctx, r.Value)
			require.NoError(t, err)
			fails = append(fails, f)
		}
	}
	byID := map[string]*schemas.FailedEvent{}
	for _, f := range fails {
		require.Equal(t, "email_failed", f.Reason)
		byID[f.EventID] = f
	}
	require.Contains(t, byID["t-1"].Detail, "after 1 attempt(s)")
	require.Contains(t, byID["t-1"].Detail, "550")
	require.Contains(t, byID["t-2"].Detail, "after 3 attempt(s)")
	require.Equal(t, failureID("t-2", "remind", "0"), byID["t-2"].ID)
}

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1.
func selfSigned(tb testing.TB, dir string) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(tb, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(tb, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(tb, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}

// TestContactsRestoredAfterRestart: the second consumer's feed has nothing
// left to read on the enriched topic (its group committed it); the address
// comes from the compacted contacts topic, restored before the transition
// is handled.
func TestContactsRestoredAfterRestart(t *testing.T) {
	mp := testmailpit.Start(t)
	e := newMailEnv(t)
	action := fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: none}
          from: shop@shop.example
          subject: "hi {{.Traits.first_name}}"
          text: hello
`, mp.SMTPPort)
	_, reg, stop := e.consumer(t, action)
	e.identify(t, "alice", `{"email":"alice@example.com","first_name":"Alice"}`, marketing)
	e.identify(t, "alice", `{"first_name":"Ally"}`, marketing) // merged: the address stays
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_contact_changes_total", map[string]string{"result": "updated"}) == 2
	}, 10*time.Second, 10*time.Millisecond)
	// The feed commits once the changes are acknowledged.
	require.Eventually(t, func() bool {
		offs, err := kadm.NewClient(e.cl).FetchOffsets(context.Background(), "sillage.workflow.contacts")
		if err != nil {
			return false
		}
		var total int64
		offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		return total == 2
	}, 10*time.Second, 10*time.Millisecond)
	stop()

	e.transition(t, sampleTransition("t-1", "alice", true))
	_, reg2, stop2 := e.consumer(t, action)
	require.Eventually(t, func() bool {
		return counter(t, reg2, "sillage_workflow_actions_total", map[string]string{"action": "email", "outcome": "done"}) == 1
	}, 20*time.Second, 20*time.Millisecond)
	stop2()
	require.Equal(t, 0.0, counter(t, reg2, "sillage_workflow_contact_changes_total", map[string]string{"result": "updated"}),
		"nothing re-read from the enriched topic")
	msgs := mp.To(t, "alice@example.com")
	require.Len(t, msgs, 1)
	require.Equal(t, "hi Ally", msgs[0].Subject)
}

// TestEmailStartTLSRequired: a server that offers no STARTTLS gets nothing
// in clear text when starttls is configured.
func TestEmailStartTLSRequired(t *testing.T) {
	mp := testmailpit.Start(t)
	e := newMailEnv(t)
	e.identify(t, "alice", `{"email":"alice@example.com"}`, marketing)
	_, reg, stop := e.consumer(t, fmt.Sprintf(`          smtp: {host: 127.0.0.1, port: %d, tls: starttls, timeout: 2s}
          from: shop@shop.example
          subject: hi
          text: hello
          max_attempts: 2
`, mp.SMTPPort))
	e.transition(t, sampleTransition("t-1", "alice", true))
	require.Eventually(t, func() bool {
		return counter(t, reg, "sillage_workflow_actions_total", map[string]string{"action": "email", "outcome": "failed"}) == 1
	}, 20*time.Second, 20*time.Millisecond)
	stop()
	require.Empty(t, mp.Messages(t))
}
