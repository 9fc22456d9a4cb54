// Command segment-latency measures, on the embedded default, the latency
// from the collector's acknowledgement of an event (the HTTP 2xx of
// POST /v1/track) to the segment-entry record that event causes on
// sillage.segments.membership, as a read_committed consumer sees it
// (issue 5, "What must be shown" → Benchmarks). It is run by
// scripts/bench-segment-latency.sh.
//
// It starts the sillage binary (-sillage) in a temporary data directory on
// free ports, with a definitions file holding one event segment that enters
// on a tracked "Signed Up", then runs one step per rate of -rates: for
// -step it sends "Signed Up" events of distinct users (one event, one
// profile, one entry) at that fixed rate, open-loop (event i is due at
// start + i/rate whatever happened before; see bench/collector/loadgen),
// with full consent and a browser User-Agent (HTTP libraries' agents are
// flagged as bots, and bots enter no segment). It records the time each
// 2xx arrived. A franz-go consumer reads the membership topic from the
// start with read_committed the whole time, and matches each entry to its
// event by the entry's cause event id (the event's messageId); the latency
// of an event is the time the consumer received its entry minus the time of
// its acknowledgement. After the sending ends, the step waits up to -drain
// for the missing entries.
//
// Each step prints one line "STEP key=value ..." (latencies in
// milliseconds): the target and achieved rates, the acknowledged and failed
// requests, the entries matched and missing, the ack→entry percentiles
// (p50, p90, p99, max), the ack→evaluation percentiles (the entry's
// evaluated_at, stamped by the segmenter in milliseconds, minus the ack:
// what is left is the wait for the transaction commit and the fetch) and the
// request latency (from the event's due time to its 2xx). A step is
// sustainable when no request failed, every event got its entry, the
// achieved rate is at least 95% of the target, and both the ack→entry p99
// and the request p99 are under -max-p99 (a request p99 growing past it
// means the collector, or the generator sharing its cores, no longer keeps
// up with the rate); the steps stop after the first that is not. Before
// each STEP line, one "STAGE" line per transactional stage (enricher,
// segmenter) gives the step's batches from sillage's /metrics: one
// transaction each, their count, mean duration and mean size. The last line
// "RESULT ..." names the highest sustainable rate, the highest sustainable
// rate whose p99 is also under -target-p99 (the 100 ms), and the
// duplicate entries seen (an event entered twice; always 0 expected).
//
// With -profile FILE, a CPU profile of the sillage process is taken through
// the admin port (/debug/pprof/profile) during the step at -profile-rate
// (the first step by default).
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/sillage/sillage/schemas"
)

const (
	segment    = "bench_signed_up"
	topic      = "sillage.segments.membership"
	adminToken = "sillage-admin-dev"
	userAgent  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

const definitions = `segments:
  - name: ` + segment + `
    description: Tracked "Signed Up" (segment-latency benchmark).
    event:
      enter: event.type == "track" && event.name == "Signed Up"
workflows: []
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "segment-latency:", err)
		os.Exit(1)
	}
}

type config struct {
	sillage     string
	rates       []int
	step        time.Duration
	drain       time.Duration
	conns       int
	maxP99      time.Duration
	targetP99   time.Duration
	profile     string
	profileRate int
	keep        bool
	logPath     string
}

func parseFlags() (config, error) {
	var c config
	rates := flag.String("rates", "2000,4000,6000,8000,9000,10000,12000", "comma-separated events/s of the steps, in increasing order")
	flag.StringVar(&c.sillage, "sillage", "", "path of the sillage binary (required)")
	flag.DurationVar(&c.step, "step", 12*time.Second, "sending time of each step")
	flag.DurationVar(&c.drain, "drain", 10*time.Second, "longest wait for missing entries after a step's sending ends")
	flag.IntVar(&c.conns, "conns", 64, "HTTP connections (and concurrent requests)")
	flag.DurationVar(&c.maxP99, "max-p99", time.Second, "ack→entry or request p99 above which a step is not sustainable")
	flag.DurationVar(&c.targetP99, "target-p99", 100*time.Millisecond, "the issue's ack→entry p99 target: RESULT names the highest sustainable rate under it")
	flag.StringVar(&c.profile, "profile", "", "write a CPU profile of sillage, taken during the step at -profile-rate, to this file")
	flag.IntVar(&c.profileRate, "profile-rate", 0, "rate of the step to profile (0: the first)")
	flag.StringVar(&c.logPath, "log", "", "file for sillage's output (empty: a file in the temporary directory, printed on failure)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory")
	flag.Parse()
	if c.sillage == "" {
		return c, errors.New("-sillage: required")
	}
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return c, fmt.Errorf("-rates: %q is not a positive integer", f)
		}
		if len(c.rates) > 0 && r <= c.rates[len(c.rates)-1] {
			return c, fmt.Errorf("-rates: %d does not increase", r)
		}
		c.rates = append(c.rates, r)
	}
	if c.step <= 0 || c.drain <= 0 || c.conns <= 0 || c.maxP99 <= 0 {
		return c, errors.New("-step, -drain, -conns and -max-p99 must be positive")
	}
	if c.profileRate == 0 {
		c.profileRate = c.rates[0]
	} else if !slices.Contains(c.rates, c.profileRate) {
		return c, fmt.Errorf("-profile-rate: %d is not one of -rates", c.profileRate)
	}
	return c, nil
}

// freeAddrs returns n distinct free 127.0.0.1 ports.
func freeAddrs(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// tracker pairs acknowledgements with entries, whichever comes first.
type tracker struct {
	mu    sync.Mutex
	ack   map[string]time.Time
	entry map[string]entry
	dups  int // second entries for the same event
}

type entry struct {
	seen      time.Time // when the consumer received it
	evaluated time.Time // its evaluated_at
}

func (t *tracker) acked(id string, at time.Time) {
	t.mu.Lock()
	t.ack[id] = at
	t.mu.Unlock()
}

func (t *tracker) entered(id string, e entry) {
	t.mu.Lock()
	if _, dup := t.entry[id]; dup {
		t.dups++
	}
	t.entry[id] = e
	t.mu.Unlock()
}

func run() error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sillage-seglat.")
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	defs := filepath.Join(dir, "definitions.yaml")
	if err := os.WriteFile(defs, []byte(definitions), 0o644); err != nil {
		return err
	}
	addrs, err := freeAddrs(3)
	if err != nil {
		return err
	}
	collAddr, adminAddr, brokerAddr := addrs[0], addrs[1], addrs[2]
	logPath := cfg.logPath
	if logPath == "" {
		logPath = filepath.Join(dir, "sillage.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()

	cmd := exec.Command(cfg.sillage,
		"-data.dir", filepath.Join(dir, "data"),
		"-embedded.broker-addr", brokerAddr,
		"-collector.addr", collAddr,
		"-admin.addr", adminAddr,
		"-segmenter.definitions", defs,
		"-log.level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: sillage ends with this process even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cfg.sillage, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Interrupted: stop sillage, remove the directory, exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if !cfg.keep {
			os.RemoveAll(dir)
		}
		os.Exit(130)
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	failed := func(err error) error {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		return fmt.Errorf("%w\nlast lines of sillage's output:\n%s", err, strings.Join(lines, "\n"))
	}
	if err := waitReady("http://"+collAddr+"/readyz", 90*time.Second, exited); err != nil {
		return failed(err)
	}
	fmt.Fprintf(os.Stderr, "segment-latency: sillage pid %d ready (collector %s, admin %s, broker %s)\n",
		cmd.Process.Pid, collAddr, adminAddr, brokerAddr)

	// The consumer: the membership topic from the start, read_committed.
	serde, err := schemas.NewSerde(context.Background(),
		schemas.NewEmbeddedRegistry(map[schemas.Kind]string{schemas.KindMembership: topic}),
		map[schemas.Kind]string{schemas.KindMembership: topic})
	if err != nil {
		return err
	}
	tr := &tracker{ack: map[string]time.Time{}, entry: map[string]entry{}}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokerAddr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, stopConsumer := context.WithCancel(context.Background())
	consumerDone := make(chan error, 1)
	go func() { consumerDone <- consume(cctx, cl, serde, tr) }()
	defer func() {
		stopConsumer()
		<-consumerDone
	}()

	// Warm-up: a few events, until their entries arrive (topics, metadata,
	// the consumer's first fetch, the segmenter's first transaction).
	gen := newSender(collAddr, cfg.conns)
	warm := gen.send("warm", 50, 5*time.Second, tr)
	if warm.failed > 0 {
		return failed(fmt.Errorf("warm-up: %d of 50 requests failed (last: %v)", warm.failed, warm.lastErr))
	}
	if missing := waitEntries(tr, warm.ids, 60*time.Second); missing > 0 {
		return failed(fmt.Errorf("warm-up: %d of %d entries missing after 60s (is the segment entered? see sillage_segmenter_events_ignored_total)", missing, len(warm.ids)))
	}

	best, bestTarget := 0, 0
	for _, rate := range cfg.rates {
		var prof chan error
		if cfg.profile != "" && rate == cfg.profileRate {
			prof = make(chan error, 1)
			secs := max(1, int(cfg.step.Seconds())-2)
			go func() {
				time.Sleep(time.Second)
				prof <- fetchProfile("http://"+adminAddr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), cfg.profile)
			}()
		}
		loadBefore := loadavg()
		mBefore := scrape("http://" + adminAddr + "/metrics")
		s := gen.send("r"+strconv.Itoa(rate), rate, cfg.step, tr)
		missing := waitEntries(tr, s.ids, cfg.drain)
		stageLines(rate, mBefore, scrape("http://"+adminAddr+"/metrics"))
		st := summarize(tr, s)
		ok := s.failed == 0 && missing == 0 && st.achieved >= 0.95*float64(rate) &&
			st.p99 < cfg.maxP99 && st.reqP99 < cfg.maxP99
		fmt.Printf("STEP rate=%d achieved=%.0f acked=%d failed=%d entries=%d missing=%d"+
			" p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f"+
			" eval_p50_ms=%.1f eval_p99_ms=%.1f req_p50_ms=%.1f req_p99_ms=%.1f sustainable=%t load=%q\n",
			rate, st.achieved, s.acked, s.failed, st.matched, missing,
			ms(st.p50), ms(st.p90), ms(st.p99), ms(st.max),
			ms(st.evalP50), ms(st.evalP99), ms(st.reqP50), ms(st.reqP99), ok, loadBefore)
		if s.lastErr != nil {
			fmt.Fprintln(os.Stderr, "segment-latency: last request error:", s.lastErr)
		}
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Fprintln(os.Stderr, "segment-latency: CPU profile:", err)
			} else {
				fmt.Fprintf(os.Stderr, "segment-latency: CPU profile of the %d/s step → %s\n", rate, cfg.profile)
			}
		}
		if !ok {
			break
		}
		best = rate
		if st.p99 < cfg.targetP99 {
			bestTarget = rate
		}
	}
	tr.mu.Lock()
	dups := tr.dups
	tr.mu.Unlock()
	fmt.Printf("RESULT best_sustainable_rate=%d best_rate_p99_under_%s=%d duplicate_entries=%d\n", best, cfg.targetP99, bestTarget, dups)
	select {
	case err := <-exited:
		return failed(fmt.Errorf("sillage exited during the run: %v", err))
	default:
	}
	return nil
}

// scrape returns the stream runners' counters from sillage's /metrics:
// name{stage="…"} → value, for the batch-duration sum and count and the
// input records (nil when unreachable).
func scrape(url string) map[string]float64 {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseMetrics(string(b))
}

// parseMetrics picks the stream runners' counters out of a Prometheus text
// exposition.
func parseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "sillage_stream_batch_duration_seconds_sum") &&
			!strings.HasPrefix(line, "sillage_stream_batch_duration_seconds_count") &&
			!strings.HasPrefix(line, "sillage_stream_records_in_total") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// stageLines prints, per transactional stage, the step's batches (one
// transaction each): how many, their mean duration (process and commit) and
// their mean size in input records.
func stageLines(rate int, before, after map[string]float64) {
	if before == nil || after == nil {
		return
	}
	for _, stage := range []string{"enricher", "segmenter"} {
		l := `{stage="` + stage + `"}`
		n := after["sillage_stream_batch_duration_seconds_count"+l] - before["sillage_stream_batch_duration_seconds_count"+l]
		sum := after["sillage_stream_batch_duration_seconds_sum"+l] - before["sillage_stream_batch_duration_seconds_sum"+l]
		in := after["sillage_stream_records_in_total"+l] - before["sillage_stream_records_in_total"+l]
		if n <= 0 {
			continue
		}
		fmt.Printf("STAGE rate=%d stage=%s batches=%.0f mean_batch_ms=%.2f mean_batch_records=%.1f\n",
			rate, stage, n, 1000*sum/n, in/n)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func waitReady(url string, limit time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("sillage exited before it was ready: %v", err)
		default:
		}
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, limit)
}

func fetchProfile(url, path string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// consume records every entry of the benchmark's segment until ctx ends.
func consume(ctx context.Context, cl *kgo.Client, serde *schemas.Serde, tr *tracker) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		fs.EachError(func(t string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "segment-latency: fetching %s/%d: %v\n", t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			m, err := serde.DecodeMembership(ctx, r.Value)
			if err != nil {
				fmt.Fprintf(os.Stderr, "segment-latency: decoding %s/%d@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
				return
			}
			if m.Segment != segment || m.Transition != schemas.Entered {
				return
			}
			tr.entered(m.CauseEventID, entry{seen: now, evaluated: time.UnixMilli(m.EvaluatedAt)})
		})
	}
}

// waitEntries waits up to limit for the entries of ids and returns how many
// are still missing.
func waitEntries(tr *tracker, ids []string, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		missing := 0
		tr.mu.Lock()
		for _, id := range ids {
			if _, ok := tr.entry[id]; !ok {
				missing++
			}
		}
		tr.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type sender struct {
	client     *fasthttp.HostClient
	url        string
	conns      int
	authHeader string
}

func newSender(addr string, conns int) *sender {
	return &sender{
		client: &fasthttp.HostClient{
			Addr:                addr,
			MaxConns:            conns,
			MaxIdleConnDuration: time.Minute,
			ReadTimeout:         10 * time.Second,
			WriteTimeout:        10 * time.Second,
		},
		url:        "http://" + addr + "/v1/track",
		conns:      conns,
		authHeader: "Basic " + base64.StdEncoding.EncodeToString([]byte("sillage-demo:")),
	}
}

type sent struct {
	ids      []string        // acknowledged events' ids
	reqLat   []time.Duration // due time → 2xx
	acked    int
	failed   int
	lastErr  error
	elapsed  time.Duration // first due time → last answer
	firstDue time.Time
}

var runID = strconv.FormatInt(time.Now().UnixNano()%1e10, 36)

// send posts rate·dur "Signed Up" events of distinct users at a fixed rate.
func (s *sender) send(label string, rate int, dur time.Duration, tr *tracker) sent {
	total := int(float64(rate) * dur.Seconds())
	type job struct {
		n   int
		due time.Time
	}
	due := make(chan job, total)
	results := make([]sent, s.conns)
	var wg sync.WaitGroup
	for w := range s.conns {
		wg.Add(1)
		go func(r *sent) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(s.url)
			req.Header.SetContentType("application/json")
			req.Header.Set("Authorization", s.authHeader)
			req.Header.SetUserAgent(userAgent)
			var body []byte
			for j := range due {
				id := "seglat-" + runID + "-" + label + "-" + strconv.Itoa(j.n)
				body = appendEvent(body[:0], id)
				req.SetBodyRaw(body)
				err := s.client.DoTimeout(req, resp, 10*time.Second)
				now := time.Now()
				switch {
				case err != nil:
					r.failed++
					r.lastErr = err
				case resp.StatusCode()/100 != 2:
					r.failed++
					r.lastErr = fmt.Errorf("%s: %d %s", id, resp.StatusCode(), resp.Body())
				default:
					tr.acked(id, now)
					r.acked++
					r.ids = append(r.ids, id)
					r.reqLat = append(r.reqLat, now.Sub(j.due))
				}
			}
		}(&results[w])
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / float64(rate))
	for i := 0; i < total; {
		now := time.Now()
		for ; i < total; i++ {
			t := start.Add(time.Duration(i) * interval)
			if t.After(now) {
				break
			}
			due <- job{i, t}
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(due)
	wg.Wait()
	var all sent
	all.elapsed = time.Since(start)
	all.firstDue = start
	for _, r := range results {
		all.ids = append(all.ids, r.ids...)
		all.reqLat = append(all.reqLat, r.reqLat...)
		all.acked += r.acked
		all.failed += r.failed
		if r.lastErr != nil {
			all.lastErr = r.lastErr
		}
	}
	return all
}

// appendEvent appends a tracked "Signed Up" of user id (also its messageId)
// with every consent category granted.
func appendEvent(b []byte, id string) []byte {
	b = append(b, `{"type":"track","event":"Signed Up","userId":"`...)
	b = append(b, id...)
	b = append(b, `","messageId":"`...)
	b = append(b, id...)
	b = append(b, `","properties":{"plan":"free","source":"segment-latency"},"context":{"consent":{"categoryPreferences":{"analytics":true,"personalisation":true,"marketing":true,"advertising":true}}}}`...)
	return b
}

type stats struct {
	achieved           float64
	matched            int
	p50, p90, p99, max time.Duration
	evalP50, evalP99   time.Duration
	reqP50, reqP99     time.Duration
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(p*float64(len(d)-1))]
}

func summarize(tr *tracker, s sent) stats {
	var lat, eval []time.Duration
	tr.mu.Lock()
	for _, id := range s.ids {
		e, ok := tr.entry[id]
		if !ok {
			continue
		}
		a := tr.ack[id]
		lat = append(lat, e.seen.Sub(a))
		eval = append(eval, e.evaluated.Sub(a))
	}
	tr.mu.Unlock()
	slices.Sort(lat)
	slices.Sort(eval)
	slices.Sort(s.reqLat)
	st := stats{matched: len(lat)}
	if s.elapsed > 0 {
		st.achieved = float64(s.acked+s.failed) / s.elapsed.Seconds()
	}
	st.p50, st.p90, st.p99, st.max = pct(lat, .5), pct(lat, .9), pct(lat, .99), pct(lat, 1)
	st.evalP50, st.evalP99 = pct(eval, .5), pct(eval, .99)
	st.reqP50, st.reqP99 = pct(s.reqLat, .5), pct(s.reqLat, .99)
	return st
}
