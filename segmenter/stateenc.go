package segmenter

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/sillage/sillage/schemas"
)

// appendState writes st as the JSON that encoding/json would write for it
// (same member names, omitempty, sorted map keys), without reflection: it
// runs on every state change. TestAppendStateMatchesEncodingJSON checks
// the equivalence.
func appendState(b []byte, st *profileState) ([]byte, error) {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(st.V), 10)
	b = append(b, `,"consent":`...)
	b = appendConsent(b, st.Consent)
	if len(st.Segments) > 0 {
		b = append(b, `,"segments":{`...)
		names := make([]string, 0, len(st.Segments))
		for name := range st.Segments {
			names = append(names, name)
		}
		slices.Sort(names)
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
			b = append(b, ':')
			ss := st.Segments[name]
			if ss == nil {
				b = append(b, "null"...)
				continue
			}
			b = appendSegment(b, ss)
		}
		b = append(b, '}')
	}
	var err error
	if len(st.Traits) > 0 {
		b = append(b, `,"traits":`...)
		if b, err = appendMap(b, st.Traits); err != nil {
			return nil, err
		}
	}
	if len(st.Computed) > 0 {
		b = append(b, `,"computed":`...)
		if b, err = appendMap(b, st.Computed); err != nil {
			return nil, err
		}
	}
	if len(st.Seen) > 0 {
		b = append(b, `,"seen":[`...)
		for i, h := range st.Seen {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, h, 10)
		}
		b = append(b, ']')
	}
	if st.UserID != "" {
		b = appendString(append(b, `,"user_id":`...), st.UserID)
	}
	if len(st.AnonIDs) > 0 {
		b = append(b, `,"anon_ids":[`...)
		for i, id := range st.AnonIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, id)
		}
		b = append(b, ']')
	}
	if len(st.Recent) > 0 {
		b = append(b, `,"recent":[`...)
		for i, e := range st.Recent {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if e.ID != "" {
				b = append(appendString(append(b, `"id":`...), e.ID), ',')
			}
			if e.Type != "" {
				b = append(appendString(append(b, `"type":`...), e.Type), ',')
			}
			if e.Name != "" {
				b = append(appendString(append(b, `"name":`...), e.Name), ',')
			}
			b = append(strconv.AppendInt(append(b, `"time":`...), e.Time, 10), '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendConsent(b []byte, c schemas.Consent) []byte {
	b = append(b, `{"necessary":`...)
	b = strconv.AppendBool(b, c.Necessary)
	b = append(b, `,"analytics":`...)
	b = strconv.AppendBool(b, c.Analytics)
	b = append(b, `,"personalisation":`...)
	b = strconv.AppendBool(b, c.Personalisation)
	b = append(b, `,"marketing":`...)
	b = strconv.AppendBool(b, c.Marketing)
	b = append(b, `,"advertising":`...)
	b = strconv.AppendBool(b, c.Advertising)
	return append(b, '}')
}

func appendSegment(b []byte, ss *segmentState) []byte {
	b = append(b, '{')
	first := true
	field := func(b []byte, name string) []byte {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		return append(b, '"', ':')
	}
	if ss.Member {
		b = append(field(b, "member"), "true"...)
	}
	if ss.Since != 0 {
		b = strconv.AppendInt(field(b, "since"), ss.Since, 10)
	}
	if ss.Due != 0 {
		b = strconv.AppendInt(field(b, "due"), ss.Due, 10)
	}
	if ss.Start != 0 {
		b = strconv.AppendInt(field(b, "start"), ss.Start, 10)
	}
	if ss.StartEvent != "" {
		b = appendString(field(b, "start_event"), ss.StartEvent)
	}
	if len(ss.Completed) > 0 {
		b = appendInts(field(b, "completed"), ss.Completed)
	}
	if len(ss.Times) > 0 {
		b = appendInts(field(b, "times"), ss.Times)
	}
	if len(ss.Values) > 0 {
		b = append(field(b, "values"), '[')
		for i, v := range ss.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
		b = append(b, ']')
	}
	if len(ss.Starts) > 0 {
		b = appendInts(field(b, "starts"), ss.Starts)
	}
	if ss.Expire != 0 {
		b = strconv.AppendInt(field(b, "expire"), ss.Expire, 10)
	}
	if ss.Cause != "" {
		b = appendString(field(b, "cause"), ss.Cause)
	}
	return append(b, '}')
}

func appendInts(b []byte, v []int64) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return append(b, ']')
}

// appendFloat writes a finite float as encoding/json does; NaN and
// infinities (which JSON cannot hold) are written as 0.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString quotes s as encoding/json does (HTML-safe escaping
// included), through it for anything but plain ASCII.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMap writes a traits map: scalars directly, anything else through
// encoding/json.
func appendMap(b []byte, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch v := m[k].(type) {
		case string:
			b = appendString(b, v)
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("trait %q: %v cannot be stored", k, v)
			}
			b = appendFloat(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case nil:
			b = append(b, "null"...)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("trait %q: %w", k, err)
			}
			b = append(b, j...)
		}
	}
	return append(b, '}'), nil
}
