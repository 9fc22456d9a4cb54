package schemas

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
