package schemas

import (
	"fmt"
	"time"
)

// The functions below convert between the Go types and goavro's native form
// (map[string]any). Decoding is lenient about missing fields so that records
// written with an older schema version decode with defaults.

func consentToNative(c Consent) map[string]any {
	return map[string]any{
		"necessary":       c.Necessary,
		"analytics":       c.Analytics,
		"personalisation": c.Personalisation,
		"marketing":       c.Marketing,
		"advertising":     c.Advertising,
	}
}

func consentFromNative(m map[string]any) Consent {
	c := NecessaryOnly()
	if m == nil {
		return c
	}
	if v, ok := m["necessary"].(bool); ok {
		c.Necessary = v
	}
	c.Analytics = getBool(m, "analytics")
	c.Personalisation = getBool(m, "personalisation")
	c.Marketing = getBool(m, "marketing")
	c.Advertising = getBool(m, "advertising")
	return c
}

func signalToNative(s ConsentSignal) map[string]any {
	origin := s.Origin
	if origin == "" {
		origin = "none"
	}
	return map[string]any{
		"origin":          origin,
		"categories_json": s.CategoriesJSON,
		"tcf":             s.TCF,
		"gcs":             s.GCS,
		"gpc":             s.GPC,
	}
}

func signalFromNative(m map[string]any) ConsentSignal {
	return ConsentSignal{
		Origin:         getString(m, "origin"),
		CategoriesJSON: getString(m, "categories_json"),
		TCF:            getString(m, "tcf"),
		GCS:            getString(m, "gcs"),
		GPC:            getBool(m, "gpc"),
	}
}

func jsonOrEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// Native returns goavro's native form of the raw event.
func (e *RawEvent) Native() map[string]any {
	hints := make(map[string]any, len(e.ClientHints))
	for k, v := range e.ClientHints {
		hints[k] = v
	}
	return map[string]any{
		"event_id":        e.EventID,
		"source":          e.Source,
		"type":            e.Type,
		"event":           e.Event,
		"anonymous_id":    e.AnonymousID,
		"user_id":         e.UserID,
		"previous_id":     e.PreviousID,
		"group_id":        e.GroupID,
		"timestamp":       e.Timestamp,
		"sent_at":         e.SentAt,
		"received_at":     e.ReceivedAt,
		"ip":              e.IP,
		"user_agent":      e.UserAgent,
		"client_hints":    hints,
		"page_url":        e.PageURL,
		"page_path":       e.PagePath,
		"page_referrer":   e.PageReferrer,
		"page_title":      e.PageTitle,
		"locale":          e.Locale,
		"library_name":    e.LibraryName,
		"library_version": e.LibraryVersion,
		"context_json":    jsonOrEmpty(e.ContextJSON),
		"properties_json": jsonOrEmpty(e.PropertiesJSON),
		"traits_json":     jsonOrEmpty(e.TraitsJSON),
		"consent":         consentToNative(e.Consent),
		"consent_signal":  signalToNative(e.ConsentSignal),
	}
}

// FromNative fills the raw event from goavro's native form.
func (e *RawEvent) FromNative(m map[string]any) error {
	if m == nil {
		return fmt.Errorf("raw event: not a record")
	}
	*e = RawEvent{
		EventID:        getString(m, "event_id"),
		Source:         getString(m, "source"),
		Type:           getString(m, "type"),
		Event:          getString(m, "event"),
		AnonymousID:    getString(m, "anonymous_id"),
		UserID:         getString(m, "user_id"),
		PreviousID:     getString(m, "previous_id"),
		GroupID:        getString(m, "group_id"),
		Timestamp:      getMillis(m, "timestamp"),
		SentAt:         getMillis(m, "sent_at"),
		ReceivedAt:     getMillis(m, "received_at"),
		IP:             getString(m, "ip"),
		UserAgent:      getString(m, "user_agent"),
		PageURL:        getString(m, "page_url"),
		PagePath:       getString(m, "page_path"),
		PageReferrer:   getString(m, "page_referrer"),
		PageTitle:      getString(m, "page_title"),
		Locale:         getString(m, "locale"),
		LibraryName:    getString(m, "library_name"),
		LibraryVersion: getString(m, "library_version"),
		ContextJSON:    getString(m, "context_json"),
		PropertiesJSON: getString(m, "properties_json"),
		TraitsJSON:     getString(m, "traits_json"),
		Consent:        consentFromNative(getMap(m, "consent")),
		ConsentSignal:  signalFromNative(getMap(m, "consent_signal")),
	}
	if h := getMap(m, "client_hints"); len(h) > 0 {
		e.ClientHints = make(map[string]string, len(h))
		for k, v := range h {
			if s, ok := v.(string); ok {
				e.ClientHints[k] = s
			}
		}
	}
	if e.EventID == "" || e.Type == "" {
		return fmt.Errorf("raw event: missing event_id or type")
	}
	return nil
}

// Native returns goavro's native form of the enriched event.
func (e *EnrichedEvent) Native() map[string]any {
	return map[string]any{
		"raw":           e.Raw.Native(),
		"profile_id":    e.ProfileID,
		"event_time":    e.EventTime,
		"clock_skew_ms": e.ClockSkewMs,
		"time_clamped":  e.TimeClamped,
		"session_id":    e.SessionID,
		"session_index": e.SessionIndex,
		"geo": map[string]any{
			"country_code": e.Geo.CountryCode,
			"country":      e.Geo.Country,
			"region":       e.Geo.Region,
			"city":         e.Geo.City,
			"postal_code":  e.Geo.PostalCode,
			"latitude":     e.Geo.Latitude,
			"longitude":    e.Geo.Longitude,
			"time_zone":    e.Geo.TimeZone,
			"asn":          e.Geo.ASN,
			"as_org":       e.Geo.ASOrg,
		},
		"ua": map[string]any{
			"browser":         e.UA.Browser,
			"browser_version": e.UA.BrowserVersion,
			"os":              e.UA.OS,
			"os_version":      e.UA.OSVersion,
			"device":          e.UA.Device,
			"device_brand":    e.UA.DeviceBrand,
			"device_model":    e.UA.DeviceModel,
		},
		"bot":        e.Bot,
		"bot_reason": e.BotReason,
		"referrer": map[string]any{
			"medium": e.Referrer.Medium,
			"source": e.Referrer.Source,
			"term":   e.Referrer.Term,
			"host":   e.Referrer.Host,
		},
		"campaign": map[string]any{
			"source":   e.Campaign.Source,
			"medium":   e.Campaign.Medium,
			"name":     e.Campaign.Name,
			"term":     e.Campaign.Term,
			"content":  e.Campaign.Content,
			"click_id": e.Campaign.ClickID,
		},
		"enriched_at": e.EnrichedAt,
	}
}

// FromNative fills the enriched event from goavro's native form.
func (e *EnrichedEvent) FromNative(m map[string]any) error {
	if m == nil {
		return fmt.Errorf("enriched event: not a record")
	}
	var raw RawEvent
	if err := raw.FromNative(getMap(m, "raw")); err != nil {
		return fmt.Errorf("enriched event: %w", err)
	}
	geo, ua, ref, camp := getMap(m, "geo"), getMap(m, "ua"), getMap(m, "referrer"), getMap(m, "campaign")
	*e = EnrichedEvent{
		Raw:          raw,
		ProfileID:    getString(m, "profile_id"),
		EventTime:    getMillis(m, "event_time"),
		ClockSkewMs:  getInt64(m, "clock_skew_ms"),
		TimeClamped:  getBool(m, "time_clamped"),
		SessionID:    getString(m, "session_id"),
		SessionIndex: int32(getInt64(m, "session_index")),
		Geo: Geo{
			CountryCode: getString(geo, "country_code"),
			Country:     getString(geo, "country"),
			Region:      getString(geo, "region"),
			City:        getString(geo, "city"),
			PostalCode:  getString(geo, "postal_code"),
			Latitude:    getFloat(geo, "latitude"),
			Longitude:   getFloat(geo, "longitude"),
			TimeZone:    getString(geo, "time_zone"),
			ASN:         getInt64(geo, "asn"),
			ASOrg:       getString(geo, "as_org"),
		},
		UA: UserAgent{
			Browser:        getString(ua, "browser"),
			BrowserVersion: getString(ua, "browser_version"),
			OS:             getString(ua, "os"),
			OSVersion:      getString(ua, "os_version"),
			Device:         getString(ua, "device"),
			DeviceBrand:    getString(ua, "device_brand"),
			DeviceModel:    getString(ua, "device_model"),
		},
		Bot:       getBool(m, "bot"),
		BotReason: getString(m, "bot_reason"),
		Referrer: Referrer{
			Medium: getString(ref, "medium"),
			Source: getString(ref, "source"),
			Term:   getString(ref, "term"),
			Host:   getString(ref, "host"),
		},
		Campaign: Campaign{
			Source:  getString(camp, "source"),
			Medium:  getString(camp, "medium"),
			Name:    getString(camp, "name"),
			Term:    getString(camp, "term"),
			Content: getString(camp, "content"),
			ClickID: getString(camp, "click_id"),
		},
		EnrichedAt: getMillis(m, "enriched_at"),
	}
	return nil
}

// Native returns goavro's native form of the transition.
func (t *MembershipTransition) Native() map[string]any {
	return map[string]any{
		"id":             t.ID,
		"segment":        t.Segment,
		"profile_id":     t.ProfileID,
		"transition":     string(t.Transition),
		"cause_event_id": t.CauseEventID,
		"reason":         t.Reason,
		"event_time":     t.EventTime,
		"evaluated_at":   t.EvaluatedAt,
		"consent":        consentToNative(t.Consent),
	}
}

// FromNative fills the transition from goavro's native form.
func (t *MembershipTransition) FromNative(m map[string]any) error {
	if m == nil {
		return fmt.Errorf("membership transition: not a record")
	}
	*t = MembershipTransition{
		ID:           getString(m, "id"),
		Segment:      getString(m, "segment"),
		ProfileID:    getString(m, "profile_id"),
		Transition:   Transition(getString(m, "transition")),
		CauseEventID: getString(m, "cause_event_id"),
		Reason:       getString(m, "reason"),
		EventTime:    getMillis(m, "event_time"),
		EvaluatedAt:  getMillis(m, "evaluated_at"),
		Consent:      consentFromNative(getMap(m, "consent")),
	}
	return nil
}

// Native returns goavro's native form of the failed event.
func (f *FailedEvent) Native() map[string]any {
	payload := f.Payload
	if payload == nil {
		payload = []byte{}
	}
	return map[string]any{
		"id":               f.ID,
		"stage":            f.Stage,
		"reason":           f.Reason,
		"detail":           f.Detail,
		"event_id":         f.EventID,
		"source":           f.Source,
		"source_topic":     f.SourceTopic,
		"source_partition": f.SourcePartition,
		"source_offset":    f.SourceOffset,
		"payload":          payload,
		"failed_at":        f.FailedAt,
	}
}

// FromNative fills the failed event from goavro's native form.
func (f *FailedEvent) FromNative(m map[string]any) error {
	if m == nil {
		return fmt.Errorf("failed event: not a record")
	}
	payload, _ := m["payload"].([]byte)
	*f = FailedEvent{
		ID:              getString(m, "id"),
		Stage:           getString(m, "stage"),
		Reason:          getString(m, "reason"),
		Detail:          getString(m, "detail"),
		EventID:         getString(m, "event_id"),
		Source:          getString(m, "source"),
		SourceTopic:     getString(m, "source_topic"),
		SourcePartition: int32(getInt64(m, "source_partition")),
		SourceOffset:    getInt64(m, "source_offset"),
		Payload:         payload,
		FailedAt:        getMillis(m, "failed_at"),
	}
	return nil
}

// Native returns goavro's native form of the correction. A Kind that is
// not one of the enum's makes goavro refuse to encode it.
func (c *Correction) Native() map[string]any {
	return map[string]any{
		"id":             c.ID,
		"kind":           c.Kind.String(),
		"profile_id":     c.ProfileID,
		"from":           c.From,
		"into":           c.Into,
		"visitor_id":     c.VisitorID,
		"from_index":     c.FromIndex,
		"into_index":     c.IntoIndex,
		"cause_event_id": c.CauseEventID,
		"source":         c.Source,
		"event_time":     c.EventTime,
		"corrected_at":   c.CorrectedAt,
	}
}

// FromNative fills the correction from goavro's native form. A kind symbol
// this version does not know (written by a newer schema) is an error, the
// rest of the value filled.
func (c *Correction) FromNative(m map[string]any) error {
	if m == nil {
		return fmt.Errorf("correction: not a record")
	}
	*c = Correction{
		ID:           getString(m, "id"),
		Kind:         correctionKindOf(getString(m, "kind")),
		ProfileID:    getString(m, "profile_id"),
		From:         getString(m, "from"),
		Into:         getString(m, "into"),
		VisitorID:    getString(m, "visitor_id"),
		FromIndex:    int32(getInt64(m, "from_index")),
		IntoIndex:    int32(getInt64(m, "into_index")),
		CauseEventID: getString(m, "cause_event_id"),
		Source:       getString(m, "source"),
		EventTime:    getMillis(m, "event_time"),
		CorrectedAt:  getMillis(m, "corrected_at"),
	}
	if c.Kind == 0 {
		return fmt.Errorf("correction: unknown kind %q", getString(m, "kind"))
	}
	return nil
}

func getString(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func getBool(m map[string]any, k string) bool {
	b, _ := m[k].(bool)
	return b
}

func getMap(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func getFloat(m map[string]any, k string) float64 {
	switch v := m[k].(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	}
	return 0
}

func getInt64(m map[string]any, k string) int64 {
	switch v := m[k].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}

func getMillis(m map[string]any, k string) int64 {
	switch v := m[k].(type) {
	case time.Time:
		return v.UnixMilli()
	case int64:
		return v
	case int32:
		return int64(v)
	}
	return 0
}
