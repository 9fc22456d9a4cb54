// Package testmailpit starts a real SMTP server for tests: mailpit
// (github.com/axllent/mailpit, built by scripts/mailpit.sh through the Go
// module proxy), with its SMTP and HTTP API on free loopback ports and its
// database in the test's temporary directory, and reads what it received
// through its REST API. The server is stopped by t.Cleanup.
//
// The binary is SILLAGE_TEST_MAILPIT, else the newest under
// <repo>/.tools/mailpit/. Without it a test is skipped, or fails under CI
// (CI set), where `make test` must have installed it.
package testmailpit

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running mailpit.
type Server struct {
	SMTPHost string
	SMTPPort int
	// API is the base URL of the HTTP API, e.g. http://127.0.0.1:1234.
	API string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  []byte
}

// Address is an e-mail address as the API returns it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one received message.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Binary returns the mailpit binary, or skips (fails under CI) the test.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("SILLAGE_TEST_MAILPIT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("SILLAGE_TEST_MAILPIT=%s: %v", p, err)
		}
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	found, _ := filepath.Glob(filepath.Join(root, ".tools", "mailpit", "*", "mailpit"))
	if len(found) > 0 {
		sort.Strings(found)
		return found[len(found)-1]
	}
	msg := "needs mailpit: run `bash scripts/mailpit.sh install` (make test does) or set SILLAGE_TEST_MAILPIT"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// FreePort returns a loopback port nothing listens on at the moment.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs mailpit with extra flags (e.g. --smtp-auth-file) and waits
// until its API answers.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	bin := Binary(tb)
	s := &Server{SMTPHost: "127.0.0.1", SMTPPort: FreePort(tb), done: make(chan struct{})}
	apiPort := FreePort(tb)
	s.API = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	args := append([]string{
		"--smtp", "127.0.0.1:" + strconv.Itoa(s.SMTPPort), "--listen", "127.0.0.1:" + strconv.Itoa(apiPort),
		"--database", filepath.Join(tb.TempDir(), "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns", "--quiet",
	}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting mailpit: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	tb.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if tb.Failed() {
			tb.Logf("mailpit log:\n%s", s.Log())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			tb.Fatalf("mailpit exited at start:\n%s", s.Log())
		default:
		}
		resp, err := http.Get(s.API + "/api/v1/messages?limit=1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpit API not answering at %s:\n%s", s.API, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, p...)
	return len(p), nil
}

// Log returns what mailpit printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.log)
}

// SMTPAddr is host:port of the SMTP listener.
func (s *Server) SMTPAddr() string { return net.JoinHostPort(s.SMTPHost, strconv.Itoa(s.SMTPPort)) }

func (s *Server) get(path string, v any) error {
	resp, err := http.Get(s.API + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Messages returns every message received, newest first, with bodies and
// headers (one request per message: for tests' small counts).
func (s *Server) Messages(tb testing.TB) []Message {
	tb.Helper()
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	if err := s.get("/api/v1/messages?limit=1000", &list); err != nil {
		tb.Fatalf("mailpit: listing messages: %v", err)
	}
	out := make([]Message, 0, len(list.Messages))
	for _, m := range list.Messages {
		var full Message
		if err := s.get("/api/v1/message/"+m.ID, &full); err != nil {
			tb.Fatalf("mailpit: reading message %s: %v", m.ID, err)
		}
		out = append(out, full)
	}
	return out
}

// Headers returns the headers of a message.
func (s *Server) Headers(tb testing.TB, id string) map[string][]string {
	tb.Helper()
	var h map[string][]string
	if err := s.get("/api/v1/message/"+id+"/headers", &h); err != nil {
		tb.Fatalf("mailpit: reading headers of %s: %v", id, err)
	}
	return h
}

// To returns the messages addressed to addr.
func (s *Server) To(tb testing.TB, addr string) []Message {
	tb.Helper()
	var out []Message
	for _, m := range s.Messages(tb) {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}
