package stream

import "github.com/twmb/franz-go/pkg/kgo"

// Store is a partition-local key-value store backed by a compacted Kafka
// changelog topic, as in Kafka Streams. Reads are from memory; every write
// is also appended to the changelog in the current batch's transaction, so
// the store restored after a crash or rebalance is exactly the committed
// state. Delete writes a tombstone.
type Store struct {
	name      string
	topic     string
	partition int32
	data      map[string][]byte
	pending   []*kgo.Record
}

func newStore(name, topic string, partition int32) *Store {
	return &Store{name: name, topic: topic, partition: partition, data: map[string][]byte{}}
}

// Name returns the store's name.
func (s *Store) Name() string { return s.name }

// Get returns the value of key. The returned slice must not be modified.
func (s *Store) Get(key string) ([]byte, bool) {
	v, ok := s.data[key]
	return v, ok
}

// Put sets key to value. The store keeps value; the caller must not modify it afterwards.
func (s *Store) Put(key string, value []byte) {
	s.data[key] = value
	s.pending = append(s.pending, &kgo.Record{Topic: s.topic, Partition: s.partition, Key: []byte(key), Value: value})
}

// Delete removes key and writes a tombstone to the changelog.
func (s *Store) Delete(key string) {
	if _, ok := s.data[key]; !ok {
		return
	}
	delete(s.data, key)
	s.pending = append(s.pending, &kgo.Record{Topic: s.topic, Partition: s.partition, Key: []byte(key), Value: nil})
}

// Len returns the number of keys.
func (s *Store) Len() int { return len(s.data) }

// Range calls fn for every key until fn returns false. fn must not modify the store.
func (s *Store) Range(fn func(key string, value []byte) bool) {
	for k, v := range s.data {
		if !fn(k, v) {
			return
		}
	}
}

// apply restores one changelog record.
func (s *Store) apply(r *kgo.Record) {
	if r.Value == nil {
		delete(s.data, string(r.Key))
		return
	}
	s.data[string(r.Key)] = r.Value
}

func (s *Store) takePending() []*kgo.Record {
	p := s.pending
	s.pending = nil
	return p
}

// NewTestStore returns a store that is not attached to a runner, for tests
// of tasks. Its changelog records are available through Changelog.
func NewTestStore(name string) *Store { return newStore(name, "test."+name+".changelog", 0) }

// Changelog returns and clears the changelog records written since the last
// call (tests use it to restore a second store with Restore).
func (s *Store) Changelog() []*kgo.Record { return s.takePending() }

// Restore applies changelog records to the store, as the runner does when a
// partition is assigned.
func (s *Store) Restore(recs ...*kgo.Record) {
	for _, r := range recs {
		s.apply(r)
	}
}
