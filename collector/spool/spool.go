package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrFull is returned by Append when the records would take the spool past
// its size bound.
var ErrFull = errors.New("spool is full")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("spool is closed")

// Record is one spooled Kafka record: its key and value as they were to be
// produced, the event id (to find it again in Kafka) and when it was
// first produced (Unix ms, the lower bound of its Kafka timestamp).
type Record struct {
	Key      []byte
	Value    []byte
	EventID  string
	Produced int64
	// Attempted says a produce of the record was tried before it was
	// spooled: Kafka may have it already.
	Attempted bool
}

// Segment is a sealed segment file: no longer appended to, replayable.
type Segment struct {
	Path    string
	Records int
	Bytes   int64
	// Oldest is the smallest Produced of its records (Unix ms).
	Oldest int64
	// Attempted counts its records with Attempted set.
	Attempted int
	// Recovered says the segment was found by Open: left by an earlier run,
	// which may have been replaying it.
	Recovered bool
}

// Options tune a spool.
type Options struct {
	// MaxBytes bounds the spool on disk (all segments); Append past it
	// returns ErrFull. Zero means 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size past which the active segment is sealed and
	// a new one started. Zero means 16 MiB.
	SegmentBytes int64
	Logger       *slog.Logger
}

// Spool is an append-only, fsynced, size-bounded log of records in segment
// files. It is safe for concurrent use.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File // flock held while open

	mu       sync.Mutex // guards everything below, and writes to active
	sealed   []Segment
	active   *os.File
	actSeg   Segment // the active segment's counts
	nextSeq  uint64
	bytes    int64  // all segments
	records  int    // all segments
	written  uint64 // Appends that wrote
	closed   bool
	writeErr error // a failed write or fsync poisons the spool

	synced uint64 // written count covered by the last fsync

	syncMu sync.Mutex // serialises fsyncs and closes of the active file (group commit)
}

const (
	frameHeader = 8 // length u32, crc32c u32
	maxFrame    = 64 << 20
	suffix      = ".spool"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Open opens (creating it) the spool in dir, takes an exclusive lock on it
// (a second process on the same dir fails) and recovers its segments: a
// torn or corrupt tail, left by a crash in the middle of a write, is cut
// off; every record before it is kept. The active segment of the previous
// run is sealed, so that everything found is replayable at once.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another process: %w", dir, err)
	}
	s := &Spool{dir: dir, opts: opts, log: opts.Logger, lock: lock}
	if err := s.recover(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	return s, nil
}

func (s *Spool) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, n)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, n := range seqs {
		path := s.segPath(n)
		seg, good, err := scan(path)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() > good {
			s.log.Warn("spool: cutting a torn or corrupt tail off a segment (left by a crash during a write, never acknowledged)",
				"segment", path, "kept_bytes", good, "cut_bytes", fi.Size()-good)
			if err := os.Truncate(path, good); err != nil {
				return fmt.Errorf("spool: truncating %s: %w", path, err)
			}
		}
		if seg.Records == 0 {
			_ = os.Remove(path)
			continue
		}
		seg.Recovered = true
		s.sealed = append(s.sealed, seg)
		s.bytes += seg.Bytes
		s.records += seg.Records
		s.nextSeq = n + 1
	}
	return nil
}

// scan reads a segment's valid prefix: its counts and the byte length of
// the valid frames.
func scan(path string) (Segment, int64, error) {
	seg := Segment{Path: path}
	err := readFrames(path, func(r Record, size int) error {
		seg.Records++
		seg.Bytes += int64(size)
		if seg.Oldest == 0 || r.Produced < seg.Oldest {
			seg.Oldest = r.Produced
		}
		if r.Attempted {
			seg.Attempted++
		}
		return nil
	})
	return seg, seg.Bytes, err
}

func (s *Spool) segPath(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, suffix))
}

// Append writes the records to the active segment and returns once they
// are fsynced. Concurrent Appends share fsyncs (group commit). It returns
// ErrFull, leaving the spool unchanged, when they do not fit.
func (s *Spool) Append(recs []Record) error {
	buf := make([]byte, 0, 256*len(recs))
	for i := range recs {
		buf = appendFrame(buf, &recs[i])
	}
	s.mu.Lock()
	if err := s.appendableLocked(int64(len(buf))); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.active == nil || s.actSeg.Bytes >= s.opts.SegmentBytes {
		// Rotation closes the active file: no fsync may be running on it.
		// Lock order is syncMu then mu.
		s.mu.Unlock()
		s.syncMu.Lock()
		s.mu.Lock()
		err := s.appendableLocked(int64(len(buf)))
		if err == nil && (s.active == nil || s.actSeg.Bytes >= s.opts.SegmentBytes) {
			if err = s.rotateLocked(); err != nil {
				s.writeErr = err
			}
		}
		s.syncMu.Unlock()
		if err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if _, err := s.active.Write(buf); err != nil {
		// A partial write leaves a torn frame: no later frame may follow it.
		s.writeErr = fmt.Errorf("spool: writing %s: %w", s.actSeg.Path, err)
		s.mu.Unlock()
		return s.writeErr
	}
	for i := range recs {
		if s.actSeg.Oldest == 0 || recs[i].Produced < s.actSeg.Oldest {
			s.actSeg.Oldest = recs[i].Produced
		}
		if recs[i].Attempted {
			s.actSeg.Attempted++
		}
	}
	s.actSeg.Records += len(recs)
	s.actSeg.Bytes += int64(len(buf))
	s.records += len(recs)
	s.bytes += int64(len(buf))
	s.written++
	mine := s.written
	f := s.active
	s.mu.Unlock()
	return s.sync(f, mine)
}

// sync makes sure the write numbered mine is on disk: the first caller in
// fsyncs everything written so far, the others find it done.
func (s *Spool) sync(f *os.File, mine uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.synced >= mine || s.writeErr != nil {
		err := s.writeErr
		s.mu.Unlock()
		return err
	}
	upto := s.written
	if f != s.active {
		// Sealing fsyncs and sets synced: this cannot happen.
		s.mu.Unlock()
		return fmt.Errorf("spool: write %d of a sealed segment is not synced", mine)
	}
	s.mu.Unlock()
	err := f.Sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.writeErr = fmt.Errorf("spool: fsync: %w", err)
		return s.writeErr
	}
	if s.synced < upto {
		s.synced = upto
	}
	return nil
}

// appendableLocked says why n more bytes cannot be appended, if they cannot.
func (s *Spool) appendableLocked(n int64) error {
	switch {
	case s.closed:
		return ErrClosed
	case s.writeErr != nil:
		return s.writeErr
	case s.bytes+n > s.opts.MaxBytes:
		return ErrFull
	}
	return nil
}

// rotateLocked seals the active segment (fsyncing it) and opens a new one.
func (s *Spool) rotateLocked() error {
	if err := s.sealLocked(); err != nil {
		return err
	}
	path := s.segPath(s.nextSeq)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		_ = f.Close()
		return err
	}
	s.nextSeq++
	s.active = f
	s.actSeg = Segment{Path: path}
	return nil
}

// sealLocked fsyncs and closes the active segment and moves it to the
// sealed list (or removes it when empty).
func (s *Spool) sealLocked() error {
	if s.active == nil {
		return nil
	}
	f := s.active
	s.active = nil
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("spool: fsync %s: %w", s.actSeg.Path, err)
	}
	s.synced = s.written // everything written went to this file or an earlier sealed one
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seg := s.actSeg
	s.actSeg = Segment{}
	if seg.Records == 0 {
		_ = os.Remove(seg.Path)
		return nil
	}
	s.sealed = append(s.sealed, seg)
	return nil
}

// Seal seals the active segment if it holds records and returns every
// sealed segment, oldest first: the segments to replay.
func (s *Spool) Seal() ([]Segment, error) {
	s.syncMu.Lock() // no fsync of the active file may race its close
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return nil, s.writeErr
	}
	if s.actSeg.Records > 0 {
		if err := s.sealLocked(); err != nil {
			s.writeErr = err
			return nil, err
		}
	}
	return append([]Segment(nil), s.sealed...), nil
}

// Remove deletes a replayed segment.
func (s *Spool) Remove(seg Segment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.sealed {
		if s.sealed[i].Path != seg.Path {
			continue
		}
		if err := os.Remove(seg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		s.sealed = append(s.sealed[:i], s.sealed[i+1:]...)
		s.bytes -= seg.Bytes
		s.records -= seg.Records
		return syncDir(s.dir)
	}
	return fmt.Errorf("spool: %s is not a sealed segment", seg.Path)
}

// Read returns a sealed segment's records in the order they were appended.
func (s *Spool) Read(seg Segment) ([]Record, error) {
	recs := make([]Record, 0, seg.Records)
	err := readFrames(seg.Path, func(r Record, _ int) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// Stats are the spool's depth and age.
type Stats struct {
	Records int
	Bytes   int64
	// Oldest is the Produced time of the oldest record (zero when empty).
	Oldest time.Time
}

// Stats returns the spool's current depth.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: s.records, Bytes: s.bytes}
	oldest := int64(0)
	for _, seg := range s.sealed {
		if oldest == 0 || seg.Oldest < oldest {
			oldest = seg.Oldest
		}
	}
	if s.actSeg.Records > 0 && (oldest == 0 || s.actSeg.Oldest < oldest) {
		oldest = s.actSeg.Oldest
	}
	if oldest != 0 {
		st.Oldest = time.UnixMilli(oldest)
	}
	return st
}

// Room says whether a request of about n bytes would fit.
func (s *Spool) Room(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes+n <= s.opts.MaxBytes
}

// Close seals the active segment and releases the lock. Records stay on
// disk for the next Open.
func (s *Spool) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.sealLocked()
	return errors.Join(err, s.lock.Close())
}

// Frame: length u32 | crc32c(payload) u32 | payload, where payload is
// uvarint(produced) flags(1 byte: bit 0 attempted) uvarint(len key) key
// uvarint(len id) id value.
func appendFrame(buf []byte, r *Record) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	buf = binary.AppendUvarint(buf, uint64(r.Produced))
	flags := byte(0)
	if r.Attempted {
		flags |= 1
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(len(r.Key)))
	buf = append(buf, r.Key...)
	buf = binary.AppendUvarint(buf, uint64(len(r.EventID)))
	buf = append(buf, r.EventID...)
	buf = append(buf, r.Value...)
	payload := buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	return buf
}

// readFrames calls fn for each valid frame of the file in order and stops,
// without error, at the first torn or corrupt one.
func readFrames(path string, fn func(Record, int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var hdr [frameHeader]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > maxFrame {
			return nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return nil
		}
		r, ok := decodePayload(payload)
		if !ok {
			return nil
		}
		if err := fn(r, frameHeader+int(n)); err != nil {
			return err
		}
	}
}

func decodePayload(p []byte) (Record, bool) {
	var r Record
	produced, n := binary.Uvarint(p)
	if n <= 0 {
		return r, false
	}
	p = p[n:]
	r.Produced = int64(produced)
	if len(p) == 0 || p[0] > 1 {
		return r, false
	}
	r.Attempted = p[0]&1 != 0
	p = p[1:]
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, false
		}
		b := p[n : n+int(l)]
		p = p[n+int(l):]
		return b, true
	}
	key, ok := field()
	if !ok {
		return r, false
	}
	id, ok := field()
	if !ok {
		return r, false
	}
	if len(key) > 0 {
		r.Key = key
	}
	r.EventID = string(id)
	r.Value = p
	return r, true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", dir, err)
	}
	return nil
}
