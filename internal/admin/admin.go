package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the admin server.
type Config struct {
	Addr   string   `yaml:"addr"`
	Tokens []string `yaml:"tokens"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Addr: ":8081"} }

// RegisterFlags binds the config to flags named admin.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "admin.addr", c.Addr, "admin HTTP listen address")
	fs.Func("admin.token", "bearer token for the admin API (repeatable)", func(s string) error {
		c.Tokens = append(c.Tokens, s)
		return nil
	})
}

// Validate reports what is wrong.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("admin.addr: required")
	}
	for i, t := range c.Tokens {
		if len(t) < 12 {
			return fmt.Errorf("admin.tokens[%d]: too short (at least 12 characters)", i)
		}
	}
	return nil
}

// Check is a named readiness check.
type Check struct {
	Name  string
	Ready func() bool
}

// Server is the admin HTTP server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	gather prometheus.Gatherer

	mu     sync.Mutex
	checks []Check
	srv    *http.Server
	ln     net.Listener
}

// New builds the server; routes are added with Handle before Run.
func New(cfg Config, log *slog.Logger, gather prometheus.Gatherer) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux(), gather: gather}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.Protect(promhttp.HandlerFor(gather, promhttp.HandlerOpts{})))
	s.mux.Handle("/debug/pprof/", s.Protect(http.HandlerFunc(pprof.Index)))
	s.mux.Handle("/debug/pprof/profile", s.Protect(http.HandlerFunc(pprof.Profile)))
	return s
}

// AddCheck adds a readiness check.
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

// Handle adds a route (net/http ServeMux patterns).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleSchemaRegistry mounts a schema registry API: reads are open (so that
// kcat -r and other Kafka tools decode the topics), writes need the token.
func (s *Server) HandleSchemaRegistry(h http.Handler) {
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error_code": 40101, "message": "admin bearer token required to modify the registry"})
			return
		}
		h.ServeHTTP(w, r)
	})
	for _, p := range []string{"/subjects", "/subjects/", "/schemas/", "/config", "/config/", "/compatibility/", "/mode", "/mode/", "/schemas"} {
		s.mux.Handle(p, wrapped)
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()
	status := map[string]bool{}
	ok := true
	for _, c := range checks {
		r := c.Ready()
		status[c.Name] = r
		ok = ok && r
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"ready": ok, "checks": status})
}

// Protect wraps h with the bearer-token check.
func (s *Server) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.Tokens) == 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no admin token configured (admin.tokens)"})
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sillage-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return false
	}
	match := 0
	for _, t := range s.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
	}
	return match == 1
}

// Listen binds the address (so that the caller knows it is taken before Run).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin: listening on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
