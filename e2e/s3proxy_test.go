//go:build integration

package e2e

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// s3Op is one S3 request as the proxy sees it.
type s3Op struct {
	Kind     string // put, create (multipart), part, complete, abort, other
	Method   string
	Key      string // object key inside the bucket
	Part     int    // part number of a part upload
	UploadID string
}

func (o s3Op) String() string {
	switch o.Kind {
	case "part":
		return fmt.Sprintf("UploadPart %d of %s", o.Part, o.Key)
	case "create":
		return "CreateMultipartUpload " + o.Key
	case "complete":
		return "CompleteMultipartUpload " + o.Key
	case "abort":
		return "AbortMultipartUpload " + o.Key
	case "put":
		return "PUT " + o.Key
	}
	return o.Method + " " + o.Key
}

// holdRule decides, for a request before it is forwarded (done false) or
// once the server has answered it (done true, with the status), whether the
// proxy holds it there until Release.
type holdRule func(op s3Op, done bool, status int) bool

// s3Proxy is an HTTP proxy in front of the S3 server that passes every
// request through unchanged (the signed Host header included) and can hold
// chosen requests: before they reach the server (a part upload not sent) or
// after the server answered (the object stored, the client not told yet).
// The tests kill the sink while a request is held, which pins the crash to
// an exact point of an upload.
type s3Proxy struct {
	t      testing.TB
	bucket string
	addr   string
	tr     *http.Transport
	srv    *http.Server

	mu       sync.Mutex
	rule     holdRule
	release  chan struct{}
	inFlight map[int]s3Op
	next     int
	held     chan string
}

func startS3Proxy(t testing.TB, endpoint, bucket string) *s3Proxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &s3Proxy{t: t, bucket: bucket, addr: ln.Addr().String(), tr: &http.Transport{},
		release: make(chan struct{}), inFlight: map[int]s3Op{}, held: make(chan string, 16)}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the client signed this host
		},
		Transport: p,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() {
		p.Release()
		_ = p.srv.Close()
		p.tr.CloseIdleConnections()
	})
	return p
}

// Endpoint is the proxy's URL, for the sink's s3:// root.
func (p *s3Proxy) Endpoint() string { return "http://" + p.addr }

// SetRule installs the hold rule (nil: hold nothing).
func (p *s3Proxy) SetRule(r holdRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = r
}

// Release lets every held request go: a request held before the server
// fails (it is never sent), one held after it is answered.
func (p *s3Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = nil
	close(p.release)
	p.release = make(chan struct{})
}

// InFlight describes the requests the proxy is carrying now.
func (p *s3Proxy) InFlight() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, op := range p.inFlight {
		if op.Kind != "other" {
			out = append(out, op.String())
		}
	}
	sort.Strings(out)
	return out
}

func (p *s3Proxy) classify(r *http.Request) s3Op {
	q := r.URL.Query()
	op := s3Op{Method: r.Method, Key: strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"+p.bucket), "/"), UploadID: q.Get("uploadId")}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		op.Kind = "create"
	case r.Method == http.MethodPut && q.Has("partNumber") && op.UploadID != "":
		op.Kind = "part"
		op.Part, _ = strconv.Atoi(q.Get("partNumber"))
	case r.Method == http.MethodPost && op.UploadID != "":
		op.Kind = "complete"
	case r.Method == http.MethodDelete && op.UploadID != "":
		op.Kind = "abort"
	case r.Method == http.MethodPut && op.Key != "":
		op.Kind = "put"
	default:
		op.Kind = "other"
	}
	return op
}

// hold blocks while the rule says so; it reports whether the request was
// held.
func (p *s3Proxy) hold(op s3Op, done bool, status int) bool {
	p.mu.Lock()
	rule, release := p.rule, p.release
	p.mu.Unlock()
	if rule == nil || !rule(op, done, status) {
		return false
	}
	where := "before the server"
	if done {
		where = fmt.Sprintf("after the server answered %d", status)
	}
	select {
	case p.held <- op.String() + " held " + where:
	default:
	}
	select {
	case <-release:
	case <-time.After(2 * time.Minute):
	}
	return true
}

var errHeldDropped = errors.New("s3 proxy: held request dropped")

// RoundTrip implements http.RoundTripper for the reverse proxy.
func (p *s3Proxy) RoundTrip(r *http.Request) (*http.Response, error) {
	op := p.classify(r)
	p.mu.Lock()
	id := p.next
	p.next++
	p.inFlight[id] = op
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.inFlight, id)
		p.mu.Unlock()
	}()
	if p.hold(op, false, 0) {
		return nil, errHeldDropped
	}
	resp, err := p.tr.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	p.hold(op, true, status)
	return resp, err
}
