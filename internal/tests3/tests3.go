// Package tests3 gives tests a real S3-compatible server: versitygw
// (github.com/versity/versitygw, posix backend) installed by
// `scripts/s3.sh install` (`make test-deps`), spoken to over HTTP.
//
// Shared returns the server named by SILLAGE_TEST_S3_ENDPOINT (which
// `make test-integration` starts with scripts/s3.sh start) or, when it is
// unset, a private server for the test binary. Private always starts a
// server of the test's own, which the test may stop and start again
// (outage tests). Each test gets buckets of its own (Server.Bucket), emptied
// and removed when it ends.
//
// How it fails: when the versitygw binary is missing the test fails if
// the CI environment variable is set and is skipped otherwise, naming the
// command that installs it; a server that does not start fails the test
// with the end of its log.
package tests3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
)

// Environment variables.
const (
	// EnvEndpoint names a running server (http://host:port) to test against.
	EnvEndpoint = "SILLAGE_TEST_S3_ENDPOINT"
	// EnvBin overrides the path of the versitygw binary.
	EnvBin = "SILLAGE_TEST_S3_BIN"
)

// The credentials of the test servers (scripts/s3.sh uses the same).
const (
	AccessKey = "sillage-test"
	SecretKey = "sillage-test-secret"
	Region    = "us-east-1"
)

// Server is a running S3-compatible server.
type Server struct {
	Endpoint string // http://127.0.0.1:port

	// private servers only
	mu   sync.Mutex
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns the server of SILLAGE_TEST_S3_ENDPOINT when it is set,
// else a private server for this test (see Private). It sets the AWS
// credential variables for the test.
func Shared(t testing.TB) *Server {
	t.Helper()
	if ep := strings.TrimSpace(os.Getenv(EnvEndpoint)); ep != "" {
		sharedOnce.Do(func() {
			shared = &Server{Endpoint: strings.TrimRight(ep, "/")}
			sharedErr = shared.waitUp(10 * time.Second)
		})
		require.NoError(t, sharedErr, "S3 server of %s=%s", EnvEndpoint, ep)
		SetCredentials(t)
		return shared
	}
	return Private(t)
}

// Private starts a versitygw of the test's own on a free loopback port; it
// is stopped and its data removed when the test ends.
func Private(t testing.TB) *Server {
	t.Helper()
	bin := binary(t)
	s := &Server{bin: bin, dir: t.TempDir(), addr: freeAddr(t)}
	s.Endpoint = "http://" + s.addr
	s.Start(t)
	t.Cleanup(func() { s.stop(syscall.SIGKILL) })
	SetCredentials(t)
	return s
}

// SetCredentials points the AWS credential variables at the test servers.
func SetCredentials(t testing.TB) {
	t.Helper()
	if tt, ok := t.(interface{ Setenv(k, v string) }); ok {
		tt.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
		tt.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
		tt.Setenv("AWS_REGION", Region)
		return
	}
	t.Fatal("tests3: SetCredentials needs a *testing.T or *testing.B")
}

// Env returns the environment entries a child process needs to reach the
// server (credentials and region).
func Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=" + Region}
}

// Start starts a private server (again, on the same port and data after
// Stop).
func (s *Server) Start(t testing.TB) {
	t.Helper()
	require.NotEmpty(t, s.bin, "only a private server can be started")
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Nil(t, s.cmd, "server already running")
	s.log = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", s.addr, "--quiet", "posix", s.dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "starting %s", s.bin)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := s.waitUp(20 * time.Second); err != nil {
		s.stopLocked(syscall.SIGKILL)
		t.Fatalf("versitygw did not start: %v\n%s", err, s.log)
	}
}

// Stop stops a private server (SIGTERM), keeping its data.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	require.NotEmpty(t, s.bin, "only a private server can be stopped")
	s.stop(syscall.SIGTERM)
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(sig)
}

func (s *Server) stopLocked(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// waitUp waits until the server answers HTTP (an anonymous request gets
// 403: it speaks S3).
func (s *Server) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		if s.done != nil {
			select {
			case <-s.done:
				return fmt.Errorf("the server exited")
			default:
			}
		}
		resp, err := cl.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not answering within %s: %v", s.Endpoint, timeout, last)
}

// Client returns a minio-go client of the server.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	cl, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), Region: Region, BucketLookup: minio.BucketLookupPath,
	})
	require.NoError(t, err)
	return cl
}

// Bucket creates a bucket of the test's own and removes it, with its
// objects, when the test ends (unless the server is down then).
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sillage-t" + hex.EncodeToString(b)
	cl := s.Client(t)
	ctx := context.Background()
	require.NoError(t, cl.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}), "creating bucket %s at %s", name, s.Endpoint)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		objs := cl.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true})
		for e := range cl.RemoveObjects(ctx, name, objs, minio.RemoveObjectsOptions{}) {
			t.Logf("removing %s from test bucket %s: %v", e.ObjectName, name, e.Err)
		}
		if err := cl.RemoveBucket(ctx, name); err != nil {
			t.Logf("removing test bucket %s: %v", name, err)
		}
	})
	return name
}

// Root returns the sink root URL of prefix in bucket on the server.
func (s *Server) Root(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u + "?endpoint=" + s.Endpoint + "&region=" + Region + "&path_style=true"
}

func binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv(EnvBin); b != "" {
		return b
	}
	root, err := repoRoot()
	if err == nil {
		b := filepath.Join(root, ".tools", "s3", "bin", "versitygw")
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	msg := "the S3 test server versitygw is not installed: run `make test-deps` or `bash scripts/s3.sh install` (or set " + EnvBin + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}
