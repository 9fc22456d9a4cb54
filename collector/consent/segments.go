package consent

import (
	"fmt"
)

// Segments are the optional segments that follow a v2 TC string's core
// segment ('.'-separated). github.com/prebid/go-gdpr reads only the core
// segment, so they are read here, by the TCF v2.2 layout: each starts with
// a 3-bit segment type, 1 disclosed vendors, 2 allowed vendors, 3 publisher
// purposes. A segment that is cut short or of an unknown type makes the
// whole string malformed, as it does for the IAB reference decoder.
type Segments struct {
	DisclosedVendors          []int
	AllowedVendors            []int
	PublisherConsents         []int // purposes 1-24
	PublisherLegitInterests   []int
	NumCustomPurposes         int
	PublisherCustomConsents   []int
	PublisherCustomLegitInter []int
}

// bits reads a base64url string bit by bit, as TC strings are written:
// six bits a character, most significant first.
type bits struct {
	s   string
	pos int
	err error
}

func b64(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// read returns the next n bits (n ≤ 16) as an unsigned int; past the end
// it records an error naming the field and returns 0.
func (b *bits) read(n int, field string) int {
	if b.err != nil {
		return 0
	}
	if b.pos+n > len(b.s)*6 {
		b.err = fmt.Errorf("%s needs bits %d-%d, the segment has %d", field, b.pos, b.pos+n-1, len(b.s)*6)
		return 0
	}
	v := 0
	for i := 0; i < n; i++ {
		p := b.pos + i
		v = v<<1 | (b64(b.s[p/6])>>(5-p%6))&1
	}
	b.pos += n
	return v
}

// set reads n bits as a set of ids from 1.
func (b *bits) set(n int, field string) []int {
	out := []int{}
	for i := 1; i <= n && b.err == nil; i++ {
		if b.read(1, field) == 1 {
			out = append(out, i)
		}
	}
	return out
}

// vendors reads a vendor vector: max id, encoding, then a bit field or
// ranges.
func (b *bits) vendors(field string) []int {
	maxID := b.read(16, field+" max vendor id")
	if b.read(1, field+" encoding type") == 0 {
		if b.err == nil && b.pos+maxID > len(b.s)*6 {
			b.err = fmt.Errorf("%s bit field of %d vendors needs bits %d-%d, the segment has %d", field, maxID, b.pos, b.pos+maxID-1, len(b.s)*6)
			return nil
		}
		return b.set(maxID, field)
	}
	n := b.read(12, field+" number of ranges")
	// Ranges may overlap or repeat: they are counted in a difference array
	// (+1 at a range's start, -1 after its end), so that the work is
	// bounded by the number of ranges plus maxID (at most 65535), however
	// the ranges overlap.
	diff := make([]int, maxID+2)
	for i := 0; i < n && b.err == nil; i++ {
		isRange := b.read(1, field+" range type")
		start := b.read(16, field+" range start")
		end := start
		if isRange == 1 {
			end = b.read(16, field+" range end")
		}
		if b.err != nil {
			break
		}
		if start < 1 || end < start || end > maxID {
			b.err = fmt.Errorf("%s range %d-%d is outside 1-%d or reversed", field, start, end, maxID)
			break
		}
		diff[start]++
		diff[end+1]--
	}
	out := []int{}
	for id, n := 1, 0; id <= maxID; id++ {
		if n += diff[id]; n > 0 {
			out = append(out, id)
		}
	}
	return out
}

// decodeSegments reads the segments after the core one.
func decodeSegments(segs []string) (Segments, error) {
	var s Segments
	for i, seg := range segs {
		if seg == "" {
			return s, fmt.Errorf("segment %d is empty", i+2)
		}
		b := &bits{s: seg}
		switch typ := b.read(3, "segment type"); typ {
		case 1:
			s.DisclosedVendors = b.vendors("disclosed vendors")
		case 2:
			s.AllowedVendors = b.vendors("allowed vendors")
		case 3:
			s.PublisherConsents = b.set(24, "publisher purposes consent")
			s.PublisherLegitInterests = b.set(24, "publisher purposes legitimate interest")
			s.NumCustomPurposes = b.read(6, "number of custom purposes")
			s.PublisherCustomConsents = b.set(s.NumCustomPurposes, "custom purposes consent")
			s.PublisherCustomLegitInter = b.set(s.NumCustomPurposes, "custom purposes legitimate interest")
		default:
			return s, fmt.Errorf("segment %d has type %d: want 1 (disclosed vendors), 2 (allowed vendors) or 3 (publisher purposes)", i+2, typ)
		}
		if b.err != nil {
			return s, fmt.Errorf("segment %d: %w", i+2, b.err)
		}
	}
	return s, nil
}
