package schemas

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// Consent is the normalised consent vector carried by every event. The zero
// value (with Necessary set by NecessaryOnly) is the fail-closed default:
// necessary processing only.
type Consent struct {
	Necessary       bool `json:"necessary"`
	Analytics       bool `json:"analytics"`
	Personalisation bool `json:"personalisation"`
	Marketing       bool `json:"marketing"`
	Advertising     bool `json:"advertising"`
}

// NecessaryOnly is the consent of an event that carries no consent information.
func NecessaryOnly() Consent { return Consent{Necessary: true} }

// ConsentCategories lists the categories in their canonical order; lake
// columns and documentation follow it.
var ConsentCategories = []string{"necessary", "analytics", "personalisation", "marketing", "advertising"}

// Get returns the flag of a category by its canonical name.
func (c Consent) Get(category string) bool {
	switch category {
	case "necessary":
		return c.Necessary
	case "analytics":
		return c.Analytics
	case "personalisation":
		return c.Personalisation
	case "marketing":
		return c.Marketing
	case "advertising":
		return c.Advertising
	}
	return false
}

// ConsentSignal keeps the raw signals a consent vector was built from.
type ConsentSignal struct {
	Origin         string // tag, tcf, gcm, gpc, none
	CategoriesJSON string
	TCF            string
	GCS            string
	GPC            bool
}

// RawEvent is an event as the collector accepted it. Times are Unix milliseconds.
type RawEvent struct {
	EventID        string
	Source         string
	Type           string
	Event          string
	AnonymousID    string
	UserID         string
	PreviousID     string
	GroupID        string
	Timestamp      int64
	SentAt         int64
	ReceivedAt     int64
	IP             string
	UserAgent      string
	ClientHints    map[string]string
	PageURL        string
	PagePath       string
	PageReferrer   string
	PageTitle      string
	Locale         string
	LibraryName    string
	LibraryVersion string
	ContextJSON    string
	PropertiesJSON string
	TraitsJSON     string
	Consent        Consent
	ConsentSignal  ConsentSignal
}

// Key is the Kafka key of a raw event: the anonymous id, else the user id.
func (e *RawEvent) Key() string {
	if e.AnonymousID != "" {
		return e.AnonymousID
	}
	return e.UserID
}

// Geo is the location looked up from the client IP.
type Geo struct {
	CountryCode string
	Country     string
	Region      string
	City        string
	PostalCode  string
	Latitude    float64
	Longitude   float64
	TimeZone    string
	ASN         int64
	ASOrg       string
}

// UserAgent is the parsed user agent.
type UserAgent struct {
	Browser        string
	BrowserVersion string
	OS             string
	OSVersion      string
	Device         string
	DeviceBrand    string
	DeviceModel    string
}

// Referrer is the classified referrer.
type Referrer struct {
	Medium string
	Source string
	Term   string
	Host   string
}

// Campaign holds utm_* parameters and click ids.
type Campaign struct {
	Source  string
	Medium  string
	Name    string
	Term    string
	Content string
	ClickID string
}

// EnrichedEvent is a raw event after enrichment; its Kafka key is ProfileID.
type EnrichedEvent struct {
	Raw          RawEvent
	ProfileID    string
	EventTime    int64
	ClockSkewMs  int64
	TimeClamped  bool
	SessionID    string
	SessionIndex int32
	Geo          Geo
	UA           UserAgent
	Bot          bool
	BotReason    string
	Referrer     Referrer
	Campaign     Campaign
	EnrichedAt   int64
}

// Transition says whether a profile entered or exited a segment.
type Transition string

// The transitions, as the Avro enum spells them.
const (
	Entered Transition = "ENTERED"
	Exited  Transition = "EXITED"
)

// MembershipTransition is one segment entry or exit; its Kafka key is ProfileID.
type MembershipTransition struct {
	ID           string
	Segment      string
	ProfileID    string
	Transition   Transition
	CauseEventID string
	Reason       string
	EventTime    int64
	EvaluatedAt  int64
	Consent      Consent
}

// FailedEvent is an input a stage rejected, with its reason.
type FailedEvent struct {
	ID              string
	Stage           string
	Reason          string
	Detail          string
	EventID         string
	Source          string
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	Payload         []byte
	FailedAt        int64
}

// CorrectionKind says what a correction merged. The zero value is no kind:
// encoding a correction without one fails.
type CorrectionKind uint8

// The correction kinds, in the order of the Avro enum's symbols.
const (
	// ProfilesMerged: two profiles are one person (identity stitching: an
	// anonymous visitor logged in, or an alias). From and Into are profile ids.
	ProfilesMerged CorrectionKind = iota + 1
	// SessionsMerged: a late event closed the gap between two sessions of a
	// visitor. From and Into are session ids, FromIndex and IntoIndex their
	// indexes.
	SessionsMerged
)

// String returns the Avro enum symbol ("PROFILES_MERGED", "SESSIONS_MERGED"),
// or "CorrectionKind(n)" for a value that is not a kind.
func (k CorrectionKind) String() string {
	switch k {
	case ProfilesMerged:
		return "PROFILES_MERGED"
	case SessionsMerged:
		return "SESSIONS_MERGED"
	}
	return "CorrectionKind(" + strconv.Itoa(int(k)) + ")"
}

// correctionKindOf is the kind of an Avro enum symbol, 0 when unknown.
func correctionKindOf(symbol string) CorrectionKind {
	switch symbol {
	case "PROFILES_MERGED":
		return ProfilesMerged
	case "SESSIONS_MERGED":
		return SessionsMerged
	}
	return 0
}

// Correction is a correction of the enricher's state that downstream stages
// apply: two profiles merged, or two sessions merged. Its Kafka key is
// ProfileID, the surviving profile. Times are Unix milliseconds.
type Correction struct {
	ID           string // CorrectionID(Kind.String(), From, Into, CauseEventID)
	Kind         CorrectionKind
	ProfileID    string // the surviving profile
	From         string // the absorbed id: a profile id, or a session id
	Into         string // the surviving id: a profile id, or a session id
	VisitorID    string // the visitor (anonymous id) concerned
	FromIndex    int32  // index of the absorbed session; 0 for profiles
	IntoIndex    int32  // index of the surviving session; 0 for profiles
	CauseEventID string // the event that caused it
	Source       string // the source (write key's source name) of that event
	EventTime    int64  // event time of the cause
	CorrectedAt  int64  // wall-clock time of the correction
}

// CorrectionID is the deterministic id of a correction: 32 hex digits (128
// bits) of the SHA-256 of kind (CorrectionKind.String()), from, into and
// cause, each prefixed by its length so that no two different tuples hash
// the same bytes. Replaying the same cause gives the same id, so consumers
// can drop duplicates by id.
func CorrectionID(kind, from, into, cause string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range [...]string{kind, from, into, cause} {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
