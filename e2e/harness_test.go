package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sillageBinary builds ./cmd/sillage once per test binary.
func sillageBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sillage-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sillage")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sillage")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running sillage process.
type proc struct {
	t         testing.TB
	cmd       *exec.Cmd
	log       *bytes.Buffer
	logMu     *sync.Mutex
	Collector string
	Admin     string
	args      []string
	done      chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startSillage starts the binary with args plus listen addresses it picks.
func startSillage(t testing.TB, collectorAddr, adminAddr string, args ...string) *proc {
	t.Helper()
	bin := sillageBinary(t)
	full := append([]string{"-collector.addr", collectorAddr, "-admin.addr", adminAddr}, args...)
	p := &proc{t: t, log: &bytes.Buffer{}, logMu: &sync.Mutex{}, Collector: collectorAddr, Admin: adminAddr, args: full, done: make(chan struct{})}
	p.cmd = exec.Command(bin, full...)
	w := lockedWriter{p.logMu, p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("sillage log (%v):\n%s", full, p.Log())
		}
	})
	p.waitReady(90 * time.Second)
	return p
}

func (p *proc) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("sillage exited before being ready:\n%s", p.Log())
		default:
		}
		resp, err := http.Get("http://" + p.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump into the log
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	p.t.Fatalf("sillage not ready within %s:\n%s", timeout, p.Log())
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// stop sends SIGTERM and waits for an orderly exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("sillage did not stop within 60s after SIGTERM:\n%s", p.Log())
	}
}

const browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

func post(t testing.TB, url, writeKey, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	// A visitor's browser: Go's own "Go-http-client" is on the crawler list,
	// and events flagged as bots get no session and enter no segment.
	req.Header.Set("User-Agent", browserUA)
	if writeKey != "" {
		req.SetBasicAuth(writeKey, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
