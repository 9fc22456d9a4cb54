package stream

import "github.com/twmb/franz-go/pkg/kgo"

// partitioner sends changelog records to the partition set on the record
// (the input partition they belong to) and hashes the key of every other
// record like Kafka's default partitioner (murmur2), so that keys land on
// the same partition whichever client produced them.
type partitioner struct {
	manual map[string]bool
}

var (
	manualPartitioner = kgo.ManualPartitioner()
	keyPartitioner    = kgo.StickyKeyPartitioner(nil)
)

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.manual[topic] {
		return manualPartitioner.ForTopic(topic)
	}
	return keyPartitioner.ForTopic(topic)
}
