package sink

import (
	"strconv"

	"github.com/sillage/sillage/schemas"
)

// The lake's tables.
const (
	TableEvents   = "events"
	TableSegments = "segments"
	TableFailed   = "failed"
	// TableCorrections holds the enricher's corrections: profiles merged
	// (join it to events on profile_id = from_id to attribute a visitor's
	// anonymous history to the user they became) and sessions merged.
	TableCorrections = "corrections"
)

// Tables lists every table.
var Tables = []string{TableEvents, TableSegments, TableFailed, TableCorrections}

// EventRow is one row of the events table: an enriched event, flattened
// the way Segment's warehouse schemas name things. Empty strings and zero
// optional numbers are written as NULL; timestamps are UTC milliseconds.
type EventRow struct {
	EventID           string `parquet:"event_id"`
	Type              string `parquet:"type,dict"`
	Event             string `parquet:"event,optional,dict"`
	UserID            string `parquet:"user_id,optional"`
	AnonymousID       string `parquet:"anonymous_id,optional"`
	ProfileID         string `parquet:"profile_id,optional"`
	PreviousID        string `parquet:"previous_id,optional"`
	GroupID           string `parquet:"group_id,optional"`
	SessionID         string `parquet:"session_id,optional"`
	SessionIndex      int32  `parquet:"session_index"`
	EventTime         int64  `parquet:"event_time,timestamp(millisecond:utc),delta"`
	ReceivedAt        int64  `parquet:"received_at,timestamp(millisecond:utc),delta"`
	SentAt            int64  `parquet:"sent_at,optional,timestamp(millisecond:utc),delta"`
	OriginalTimestamp int64  `parquet:"original_timestamp,optional,timestamp(millisecond:utc),delta"`
	EnrichedAt        int64  `parquet:"enriched_at,optional,timestamp(millisecond:utc),delta"`
	ClockSkewMs       int64  `parquet:"clock_skew_ms"`
	TimeClamped       bool   `parquet:"time_clamped"`
	Source            string `parquet:"source,optional,dict"`

	ContextIP             string `parquet:"context_ip,optional"`
	ContextUserAgent      string `parquet:"context_user_agent,optional,dict"`
	ContextLibraryName    string `parquet:"context_library_name,optional,dict"`
	ContextLibraryVersion string `parquet:"context_library_version,optional,dict"`
	Context               string `parquet:"context,optional,json"`
	PageURL               string `parquet:"page_url,optional"`
	PagePath              string `parquet:"page_path,optional,dict"`
	PageReferrer          string `parquet:"page_referrer,optional"`
	PageTitle             string `parquet:"page_title,optional,dict"`
	Locale                string `parquet:"locale,optional,dict"`

	GeoCountryCode string  `parquet:"geo_country_code,optional,dict"`
	GeoCountry     string  `parquet:"geo_country,optional,dict"`
	GeoRegion      string  `parquet:"geo_region,optional,dict"`
	GeoCity        string  `parquet:"geo_city,optional,dict"`
	GeoPostalCode  string  `parquet:"geo_postal_code,optional,dict"`
	GeoLatitude    float64 `parquet:"geo_latitude,optional"`
	GeoLongitude   float64 `parquet:"geo_longitude,optional"`
	GeoTimeZone    string  `parquet:"geo_time_zone,optional,dict"`
	GeoASN         int64   `parquet:"geo_asn,optional"`
	GeoASOrg       string  `parquet:"geo_as_org,optional,dict"`

	UABrowser        string `parquet:"ua_browser,optional,dict"`
	UABrowserVersion string `parquet:"ua_browser_version,optional,dict"`
	UAOS             string `parquet:"ua_os,optional,dict"`
	UAOSVersion      string `parquet:"ua_os_version,optional,dict"`
	UADevice         string `parquet:"ua_device,optional,dict"`
	UADeviceBrand    string `parquet:"ua_device_brand,optional,dict"`
	UADeviceModel    string `parquet:"ua_device_model,optional,dict"`
	Bot              bool   `parquet:"bot"`
	BotReason        string `parquet:"bot_reason,optional,dict"`

	ReferrerMedium  string `parquet:"referrer_medium,optional,dict"`
	ReferrerSource  string `parquet:"referrer_source,optional,dict"`
	ReferrerTerm    string `parquet:"referrer_term,optional"`
	ReferrerHost    string `parquet:"referrer_host,optional,dict"`
	CampaignSource  string `parquet:"campaign_source,optional,dict"`
	CampaignMedium  string `parquet:"campaign_medium,optional,dict"`
	CampaignName    string `parquet:"campaign_name,optional,dict"`
	CampaignTerm    string `parquet:"campaign_term,optional"`
	CampaignContent string `parquet:"campaign_content,optional"`
	CampaignClickID string `parquet:"campaign_click_id,optional"`

	Properties string `parquet:"properties,optional,json"`
	Traits     string `parquet:"traits,optional,json"`

	ProductID string   `parquet:"product_id,optional"`
	Price     *float64 `parquet:"price,optional"`
	Currency  string   `parquet:"currency,optional,dict"`
	Quantity  *int64   `parquet:"quantity,optional"`
	OrderID   string   `parquet:"order_id,optional"`
	Revenue   *float64 `parquet:"revenue,optional"`

	ConsentNecessary       bool   `parquet:"consent_necessary"`
	ConsentAnalytics       bool   `parquet:"consent_analytics"`
	ConsentPersonalisation bool   `parquet:"consent_personalisation"`
	ConsentMarketing       bool   `parquet:"consent_marketing"`
	ConsentAdvertising     bool   `parquet:"consent_advertising"`
	ConsentOrigin          string `parquet:"consent_origin,optional,dict"`
}

// SegmentRow is one row of the segments table: a membership transition.
type SegmentRow struct {
	ID                     string `parquet:"id"`
	Segment                string `parquet:"segment,dict"`
	ProfileID              string `parquet:"profile_id"`
	Transition             string `parquet:"transition,dict"`
	CauseEventID           string `parquet:"cause_event_id,optional"`
	Reason                 string `parquet:"reason,optional,dict"`
	EventTime              int64  `parquet:"event_time,timestamp(millisecond:utc),delta"`
	EvaluatedAt            int64  `parquet:"evaluated_at,timestamp(millisecond:utc),delta"`
	ConsentNecessary       bool   `parquet:"consent_necessary"`
	ConsentAnalytics       bool   `parquet:"consent_analytics"`
	ConsentPersonalisation bool   `parquet:"consent_personalisation"`
	ConsentMarketing       bool   `parquet:"consent_marketing"`
	ConsentAdvertising     bool   `parquet:"consent_advertising"`
}

// CorrectionRow is one row of the corrections table.
type CorrectionRow struct {
	ID           string `parquet:"id"`
	Kind         string `parquet:"kind,dict"`
	ProfileID    string `parquet:"profile_id"`
	FromID       string `parquet:"from_id"`
	IntoID       string `parquet:"into_id"`
	VisitorID    string `parquet:"visitor_id,optional"`
	FromIndex    int32  `parquet:"from_index"`
	IntoIndex    int32  `parquet:"into_index"`
	CauseEventID string `parquet:"cause_event_id,optional"`
	Source       string `parquet:"source,optional,dict"`
	EventTime    int64  `parquet:"event_time,timestamp(millisecond:utc),delta"`
	CorrectedAt  int64  `parquet:"corrected_at,timestamp(millisecond:utc),delta"`
}

func correctionRow(c *schemas.Correction) CorrectionRow {
	return CorrectionRow{
		ID: c.ID, Kind: c.Kind.String(), ProfileID: c.ProfileID, FromID: c.From, IntoID: c.Into, VisitorID: c.VisitorID,
		FromIndex: c.FromIndex, IntoIndex: c.IntoIndex, CauseEventID: c.CauseEventID, Source: c.Source,
		EventTime: c.EventTime, CorrectedAt: c.CorrectedAt,
	}
}

// FailedRow is one row of the failed table: an input some stage (the sink
// included) could not process, with its reason and the payload as received.
type FailedRow struct {
	ID              string `parquet:"id"`
	Stage           string `parquet:"stage,dict"`
	Reason          string `parquet:"reason,dict"`
	Detail          string `parquet:"detail,optional"`
	EventID         string `parquet:"event_id,optional"`
	Source          string `parquet:"source,optional,dict"`
	SourceTopic     string `parquet:"source_topic,optional,dict"`
	SourcePartition int32  `parquet:"source_partition"`
	SourceOffset    int64  `parquet:"source_offset"`
	Payload         []byte `parquet:"payload,optional"`
	FailedAt        int64  `parquet:"failed_at,timestamp(millisecond:utc),delta"`
}

// eventRow flattens an enriched event.
func eventRow(e *schemas.EnrichedEvent) EventRow {
	r := &e.Raw
	row := EventRow{
		EventID:           r.EventID,
		Type:              r.Type,
		Event:             r.Event,
		UserID:            r.UserID,
		AnonymousID:       r.AnonymousID,
		ProfileID:         e.ProfileID,
		PreviousID:        r.PreviousID,
		GroupID:           r.GroupID,
		SessionID:         e.SessionID,
		SessionIndex:      e.SessionIndex,
		EventTime:         eventTime(e),
		ReceivedAt:        r.ReceivedAt,
		SentAt:            r.SentAt,
		OriginalTimestamp: r.Timestamp,
		EnrichedAt:        e.EnrichedAt,
		ClockSkewMs:       e.ClockSkewMs,
		TimeClamped:       e.TimeClamped,
		Source:            r.Source,

		ContextIP:             r.IP,
		ContextUserAgent:      r.UserAgent,
		ContextLibraryName:    r.LibraryName,
		ContextLibraryVersion: r.LibraryVersion,
		Context:               nonEmptyJSON(r.ContextJSON),
		PageURL:               r.PageURL,
		PagePath:              r.PagePath,
		PageReferrer:          r.PageReferrer,
		PageTitle:             r.PageTitle,
		Locale:                r.Locale,

		GeoCountryCode: e.Geo.CountryCode,
		GeoCountry:     e.Geo.Country,
		GeoRegion:      e.Geo.Region,
		GeoCity:        e.Geo.City,
		GeoPostalCode:  e.Geo.PostalCode,
		GeoLatitude:    e.Geo.Latitude,
		GeoLongitude:   e.Geo.Longitude,
		GeoTimeZone:    e.Geo.TimeZone,
		GeoASN:         e.Geo.ASN,
		GeoASOrg:       e.Geo.ASOrg,

		UABrowser:        e.UA.Browser,
		UABrowserVersion: e.UA.BrowserVersion,
		UAOS:             e.UA.OS,
		UAOSVersion:      e.UA.OSVersion,
		UADevice:         e.UA.Device,
		UADeviceBrand:    e.UA.DeviceBrand,
		UADeviceModel:    e.UA.DeviceModel,
		Bot:              e.Bot,
		BotReason:        e.BotReason,

		ReferrerMedium:  e.Referrer.Medium,
		ReferrerSource:  e.Referrer.Source,
		ReferrerTerm:    e.Referrer.Term,
		ReferrerHost:    e.Referrer.Host,
		CampaignSource:  e.Campaign.Source,
		CampaignMedium:  e.Campaign.Medium,
		CampaignName:    e.Campaign.Name,
		CampaignTerm:    e.Campaign.Term,
		CampaignContent: e.Campaign.Content,
		CampaignClickID: e.Campaign.ClickID,

		Properties: nonEmptyJSON(r.PropertiesJSON),
		Traits:     nonEmptyJSON(r.TraitsJSON),

		ConsentNecessary:       r.Consent.Necessary,
		ConsentAnalytics:       r.Consent.Analytics,
		ConsentPersonalisation: r.Consent.Personalisation,
		ConsentMarketing:       r.Consent.Marketing,
		ConsentAdvertising:     r.Consent.Advertising,
		ConsentOrigin:          r.ConsentSignal.Origin,
	}
	promoteCommerce(&row, r.PropertiesJSON)
	return row
}

// eventTime is the time that places an event in its partition: the
// corrected event time, else when it was received.
func eventTime(e *schemas.EnrichedEvent) int64 {
	if e.EventTime != 0 {
		return e.EventTime
	}
	return e.Raw.ReceivedAt
}

// nonEmptyJSON maps the Avro default "{}" to NULL.
func nonEmptyJSON(s string) string {
	if s == "{}" {
		return ""
	}
	return s
}

func segmentRow(t *schemas.MembershipTransition) SegmentRow {
	return SegmentRow{
		ID:                     t.ID,
		Segment:                t.Segment,
		ProfileID:              t.ProfileID,
		Transition:             string(t.Transition),
		CauseEventID:           t.CauseEventID,
		Reason:                 t.Reason,
		EventTime:              t.EventTime,
		EvaluatedAt:            t.EvaluatedAt,
		ConsentNecessary:       t.Consent.Necessary,
		ConsentAnalytics:       t.Consent.Analytics,
		ConsentPersonalisation: t.Consent.Personalisation,
		ConsentMarketing:       t.Consent.Marketing,
		ConsentAdvertising:     t.Consent.Advertising,
	}
}

func failedRow(f *schemas.FailedEvent) FailedRow {
	return FailedRow{
		ID:              f.ID,
		Stage:           f.Stage,
		Reason:          f.Reason,
		Detail:          f.Detail,
		EventID:         f.EventID,
		Source:          f.Source,
		SourceTopic:     f.SourceTopic,
		SourcePartition: f.SourcePartition,
		SourceOffset:    f.SourceOffset,
		Payload:         f.Payload,
		FailedAt:        f.FailedAt,
	}
}

// sinkFailureID is the deterministic id of a record the sink itself could
// not decode.
func sinkFailureID(topic string, partition int32, offset int64) string {
	return "sink:" + topic + ":" + strconv.Itoa(int(partition)) + ":" + strconv.FormatInt(offset, 10)
}
