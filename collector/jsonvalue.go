package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// decoder reads a request body parsed once by fastjson, with the rules of
// encoding/json, which the collector used before: the same bodies are
// accepted, fields match case-insensitively, the last of a repeated field
// wins, strings are unquoted the same way (U+FFFD for invalid UTF-8 and
// lone surrogates).
//
// Values are only read through GetObject, GetArray, MarshalTo and
// Object.Visit: unlike Type or StringBytes these leave strings as sent, so
// MarshalTo re-serialises an object exactly as json.Compact did, provided
// it runs before Visit unescapes the object's keys (each object's JSON is
// taken before it is walked).
type decoder struct {
	p     fastjson.Parser
	buf   []byte   // scratch for MarshalTo
	arena strArena // where the decoded strings go; new for each body
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// getDecoder returns a pooled decoder for a body of size bytes. Its
// strings go to a new arena of 1.5 times that: an event's context is
// copied out whole as JSON and again field by field.
func getDecoder(size int) *decoder {
	d := decoders.Get().(*decoder)
	d.arena = strArena{buf: make([]byte, 0, size+size/2)}
	return d
}

func (d *decoder) release() {
	d.arena = strArena{}
	if cap(d.buf) > 64<<10 {
		d.buf = nil
	}
	decoders.Put(d)
}

var errControlChar = errors.New("control character in a string")

// parse parses body. fastjson's parser is lenient (numbers, escapes,
// control characters) and its validator strict, so both run: the parser
// first, as it stops at a nesting depth of fastjson.MaxDepth. The
// validator misses control characters before the last escape of a string
// (v1.6.10 checks only what follows it): a body where that can happen,
// with both, is checked again by encoding/json.
func (d *decoder) parse(body []byte) (*fastjson.Value, *apiError) {
	v, err := d.p.ParseBytes(body)
	if err == nil {
		err = fastjson.ValidateBytes(body)
	}
	if err == nil && bytes.IndexByte(body, '\\') >= 0 && hasControl(body) && !json.Valid(body) {
		err = errControlChar
	}
	if err != nil {
		return nil, syntaxError(body, err)
	}
	return v, nil
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// syntaxError explains why body is not JSON, in encoding/json's words
// (clients got these before fastjson; they give the byte offset). Only
// nesting deeper than fastjson.MaxDepth is refused by fastjson alone.
func syntaxError(body []byte, ferr error) *apiError {
	var syn *json.SyntaxError
	if errors.As(json.Unmarshal(body, &struct{}{}), &syn) {
		if syn.Error() == "unexpected end of JSON input" {
			return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is truncated JSON")
		}
		return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	}
	return newError(fasthttp.StatusBadRequest, reasonMalformedJSON, "body is not valid JSON: %v", ferr)
}

// text returns v's JSON text, in scratch space valid until the next call.
func (d *decoder) text(v *fastjson.Value) []byte {
	d.buf = v.MarshalTo(d.buf[:0])
	return d.buf
}

// leaf returns v's kind, the first byte of its JSON text ('{', '[', '"',
// 't', 'f', 'n', or '-' or a digit for a number), and for anything but an
// object or a non-empty array its text (see text).
func (d *decoder) leaf(v *fastjson.Value) (byte, []byte) {
	if v.GetObject() != nil {
		return '{', nil
	}
	if len(v.GetArray()) > 0 {
		return '[', nil
	}
	t := d.text(v)
	return t[0], t
}

// object returns v's kind, and its compact JSON when it is an object.
func (d *decoder) object(v *fastjson.Value) wireObject {
	if v == nil {
		return wireObject{}
	}
	k, _ := d.leaf(v)
	if k != '{' {
		return wireObject{kind: k}
	}
	return wireObject{kind: k, json: d.arena.str(d.text(v))}
}

// unquote decodes a JSON string literal as encoding/json does.
func (d *decoder) unquote(lit []byte) string {
	s := lit[1 : len(lit)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return d.arena.str(s)
	}
	var out string
	_ = json.Unmarshal(lit, &out) // lit is valid JSON
	return out
}

// setString decodes a string field as encoding/json does: a string sets
// it, null leaves it. Anything else is a type error: it returns its kind.
func (d *decoder) setString(v *fastjson.Value, dst *string) byte {
	switch k, lit := d.leaf(v); k {
	case '"':
		*dst = d.unquote(lit)
	case 'n':
	default:
		return k
	}
	return 0
}

// setID decodes an identifier, which clients send as a string or a number
// (kept as written); null clears it. Anything else is a type error.
func (d *decoder) setID(v *fastjson.Value, dst *string) byte {
	switch k, lit := d.leaf(v); {
	case k == '"':
		*dst = d.unquote(lit)
	case k == 'n':
		*dst = ""
	case k == '-' || k >= '0' && k <= '9':
		*dst = d.arena.str(lit)
	default:
		return k
	}
	return 0
}

// loose is a context field that is informative only: a string sets it,
// any other value is ignored rather than refused.
type loose struct {
	s   string
	set bool
}

func (d *decoder) setLoose(v *fastjson.Value, dst *loose) {
	if k, lit := d.leaf(v); k == '"' {
		*dst = loose{s: d.unquote(lit), set: true}
	}
}

// merge overrides l with what o sets.
func (l *loose) merge(o loose) {
	if o.set {
		*l = o
	}
}

// field finds key among a struct's field names as encoding/json does: the
// exact name, else the first one equal under Unicode case folding; -1 for
// none.
func field(key string, names []string) int {
	for i, n := range names {
		if key == n {
			return i
		}
	}
	ascii := isASCII(key)
	for i, n := range names {
		// An ASCII key can only fold to an ASCII name of its length.
		if (!ascii || len(key) == len(n)) && strings.EqualFold(key, n) {
			return i
		}
	}
	return -1
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// b2s views b as a string without copying, for comparisons that do not
// keep it.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func kindName(k byte) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '"':
		return "string"
	}
	return "number"
}

// strArena copies strings out of the parser's buffer (which is reused)
// into one allocation per request instead of one per string. Bytes handed
// out are never written again, so the strings stay immutable.
type strArena struct{ buf []byte }

func (a *strArena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), len(b), 256))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[n], len(b))
}
