package schemas

import "fmt"

// The direct codec writes and reads the Avro binary encoding of the latest
// version of each contract straight from and to the Go types, field by field
// in schema order, without goavro's native maps. It must stay byte-identical
// to goavro's output for that version (direct_test.go proves it); a new schema
// version needs these functions updated along with the manifest. Records
// written with any other schema go through goavro (see Serde).

func appendConsent(b []byte, c *Consent) []byte {
	b = appendBool(b, c.Necessary)
	b = appendBool(b, c.Analytics)
	b = appendBool(b, c.Personalisation)
	b = appendBool(b, c.Marketing)
	return appendBool(b, c.Advertising)
}

func (r *reader) consent() Consent {
	return Consent{Necessary: r.bool(), Analytics: r.bool(), Personalisation: r.bool(), Marketing: r.bool(), Advertising: r.bool()}
}

func appendJSON(b []byte, s string) []byte { return appendString(b, jsonOrEmpty(s)) }

func appendRaw(b []byte, e *RawEvent) []byte {
	for _, s := range [...]string{e.EventID, e.Source, e.Type, e.Event, e.AnonymousID, e.UserID, e.PreviousID, e.GroupID} {
		b = appendString(b, s)
	}
	b = appendLong(b, e.Timestamp)
	b = appendLong(b, e.SentAt)
	b = appendLong(b, e.ReceivedAt)
	b = appendString(b, e.IP)
	b = appendString(b, e.UserAgent)
	b = appendStringMap(b, e.ClientHints)
	for _, s := range [...]string{e.PageURL, e.PagePath, e.PageReferrer, e.PageTitle, e.Locale, e.LibraryName, e.LibraryVersion} {
		b = appendString(b, s)
	}
	b = appendJSON(b, e.ContextJSON)
	b = appendJSON(b, e.PropertiesJSON)
	b = appendJSON(b, e.TraitsJSON)
	b = appendConsent(b, &e.Consent)
	origin := e.ConsentSignal.Origin
	if origin == "" {
		origin = "none"
	}
	b = appendString(b, origin)
	b = appendString(b, e.ConsentSignal.CategoriesJSON)
	b = appendString(b, e.ConsentSignal.TCF)
	b = appendString(b, e.ConsentSignal.GCS)
	return appendBool(b, e.ConsentSignal.GPC)
}

// The read functions fill a value as FromNative does from goavro's decoding.
// Avro errors stay in r.err (see finish); the error they return is the
// contract's own check, as FromNative's, for a record that decoded.

func (r *reader) readRaw(e *RawEvent) error {
	*e = RawEvent{
		EventID: r.str(), Source: r.word(), Type: r.word(), Event: r.word(),
		AnonymousID: r.str(), UserID: r.str(), PreviousID: r.str(), GroupID: r.str(),
		Timestamp: r.long(), SentAt: r.long(), ReceivedAt: r.long(),
		IP: r.str(), UserAgent: r.str(), ClientHints: r.stringMap(),
		PageURL: r.str(), PagePath: r.str(), PageReferrer: r.str(), PageTitle: r.str(),
		Locale: r.word(), LibraryName: r.word(), LibraryVersion: r.word(),
		ContextJSON: r.word(), PropertiesJSON: r.word(), TraitsJSON: r.word(),
		Consent: r.consent(),
		ConsentSignal: ConsentSignal{
			Origin: r.word(), CategoriesJSON: r.word(), TCF: r.str(), GCS: r.word(), GPC: r.bool(),
		},
	}
	if r.err == nil && (e.EventID == "" || e.Type == "") {
		return fmt.Errorf("raw event: missing event_id or type")
	}
	return nil
}

func appendEnriched(b []byte, e *EnrichedEvent) []byte {
	b = appendRaw(b, &e.Raw)
	b = appendString(b, e.ProfileID)
	b = appendLong(b, e.EventTime)
	b = appendLong(b, e.ClockSkewMs)
	b = appendBool(b, e.TimeClamped)
	b = appendString(b, e.SessionID)
	b = appendLong(b, int64(e.SessionIndex))
	g := &e.Geo
	for _, s := range [...]string{g.CountryCode, g.Country, g.Region, g.City, g.PostalCode} {
		b = appendString(b, s)
	}
	b = appendDouble(b, g.Latitude)
	b = appendDouble(b, g.Longitude)
	b = appendString(b, g.TimeZone)
	b = appendLong(b, g.ASN)
	b = appendString(b, g.ASOrg)
	u := &e.UA
	for _, s := range [...]string{u.Browser, u.BrowserVersion, u.OS, u.OSVersion, u.Device, u.DeviceBrand, u.DeviceModel} {
		b = appendString(b, s)
	}
	b = appendBool(b, e.Bot)
	b = appendString(b, e.BotReason)
	f, c := &e.Referrer, &e.Campaign
	for _, s := range [...]string{f.Medium, f.Source, f.Term, f.Host, c.Source, c.Medium, c.Name, c.Term, c.Content, c.ClickID} {
		b = appendString(b, s)
	}
	return appendLong(b, e.EnrichedAt)
}

func (r *reader) readEnriched(e *EnrichedEvent) error {
	rawErr := r.readRaw(&e.Raw)
	e.ProfileID, e.EventTime, e.ClockSkewMs = r.str(), r.long(), r.long()
	e.TimeClamped, e.SessionID, e.SessionIndex = r.bool(), r.str(), r.int()
	e.Geo = Geo{
		CountryCode: r.word(), Country: r.word(), Region: r.word(), City: r.word(), PostalCode: r.str(),
		Latitude: r.double(), Longitude: r.double(), TimeZone: r.word(), ASN: r.long(), ASOrg: r.word(),
	}
	e.UA = UserAgent{
		Browser: r.word(), BrowserVersion: r.word(), OS: r.word(), OSVersion: r.word(),
		Device: r.word(), DeviceBrand: r.word(), DeviceModel: r.word(),
	}
	e.Bot, e.BotReason = r.bool(), r.word()
	e.Referrer = Referrer{Medium: r.word(), Source: r.word(), Term: r.str(), Host: r.word()}
	e.Campaign = Campaign{Source: r.word(), Medium: r.word(), Name: r.word(), Term: r.str(), Content: r.str(), ClickID: r.str()}
	e.EnrichedAt = r.long()
	if rawErr != nil {
		*e = EnrichedEvent{} // as FromNative leaves it
		return fmt.Errorf("enriched event: %w", rawErr)
	}
	return nil
}

func appendMembership(b []byte, t *MembershipTransition) ([]byte, error) {
	var idx int64
	switch t.Transition {
	case Entered:
	case Exited:
		idx = 1
	default:
		return nil, fmt.Errorf("membership transition: transition %q is neither %s nor %s", t.Transition, Entered, Exited)
	}
	for _, s := range [...]string{t.ID, t.Segment, t.ProfileID} {
		b = appendString(b, s)
	}
	b = appendLong(b, idx)
	b = appendString(b, t.CauseEventID)
	b = appendString(b, t.Reason)
	b = appendLong(b, t.EventTime)
	b = appendLong(b, t.EvaluatedAt)
	return appendConsent(b, &t.Consent), nil
}

func (r *reader) readMembership(t *MembershipTransition) error {
	*t = MembershipTransition{ID: r.str(), Segment: r.word(), ProfileID: r.str()}
	switch idx := r.long(); {
	case r.err != nil:
	case idx == 0:
		t.Transition = Entered
	case idx == 1:
		t.Transition = Exited
	default:
		r.fail(fmt.Errorf("transition enum index %d out of range", idx))
	}
	t.CauseEventID, t.Reason, t.EventTime, t.EvaluatedAt = r.str(), r.str(), r.long(), r.long()
	t.Consent = r.consent()
	return nil
}

func appendFailed(b []byte, f *FailedEvent) []byte {
	for _, s := range [...]string{f.ID, f.Stage, f.Reason, f.Detail, f.EventID, f.Source, f.SourceTopic} {
		b = appendString(b, s)
	}
	b = appendLong(b, int64(f.SourcePartition))
	b = appendLong(b, f.SourceOffset)
	b = appendBytes(b, f.Payload)
	return appendLong(b, f.FailedAt)
}

func (r *reader) readFailed(f *FailedEvent) error {
	*f = FailedEvent{
		ID: r.str(), Stage: r.word(), Reason: r.word(), Detail: r.str(), EventID: r.str(), Source: r.word(),
		SourceTopic: r.word(), SourcePartition: r.int(), SourceOffset: r.long(), Payload: r.bytes(), FailedAt: r.long(),
	}
	return nil
}

func appendCorrection(b []byte, c *Correction) ([]byte, error) {
	if c.Kind != ProfilesMerged && c.Kind != SessionsMerged {
		return nil, fmt.Errorf("correction: kind %s is neither %s nor %s", c.Kind, ProfilesMerged, SessionsMerged)
	}
	b = appendString(b, c.ID)
	b = appendLong(b, int64(c.Kind-ProfilesMerged)) // the enum index
	for _, s := range [...]string{c.ProfileID, c.From, c.Into, c.VisitorID} {
		b = appendString(b, s)
	}
	b = appendLong(b, int64(c.FromIndex))
	b = appendLong(b, int64(c.IntoIndex))
	b = appendString(b, c.CauseEventID)
	b = appendString(b, c.Source)
	b = appendLong(b, c.EventTime)
	return appendLong(b, c.CorrectedAt), nil
}

func (r *reader) readCorrection(c *Correction) error {
	*c = Correction{ID: r.str()}
	switch idx := r.long(); {
	case r.err != nil:
	case idx == 0:
		c.Kind = ProfilesMerged
	case idx == 1:
		c.Kind = SessionsMerged
	default:
		r.fail(fmt.Errorf("kind enum index %d out of range", idx))
	}
	c.ProfileID, c.From, c.Into, c.VisitorID = r.str(), r.str(), r.str(), r.str()
	c.FromIndex, c.IntoIndex = r.int(), r.int()
	c.CauseEventID, c.Source = r.str(), r.word()
	c.EventTime, c.CorrectedAt = r.long(), r.long()
	return nil
}

// rawSize is an upper bound of appendRaw's output for all but absurdly many
// client hints, so that encoding into a nil buffer allocates once.
func rawSize(e *RawEvent) int {
	n := 200 + len(e.EventID) + len(e.Source) + len(e.Type) + len(e.Event) + len(e.AnonymousID) + len(e.UserID) +
		len(e.PreviousID) + len(e.GroupID) + len(e.IP) + len(e.UserAgent) + len(e.PageURL) + len(e.PagePath) +
		len(e.PageReferrer) + len(e.PageTitle) + len(e.Locale) + len(e.LibraryName) + len(e.LibraryVersion) +
		len(e.ContextJSON) + len(e.PropertiesJSON) + len(e.TraitsJSON) + len(e.ConsentSignal.Origin) +
		len(e.ConsentSignal.CategoriesJSON) + len(e.ConsentSignal.TCF) + len(e.ConsentSignal.GCS)
	for k, v := range e.ClientHints {
		n += 6 + len(k) + len(v)
	}
	return n
}

func enrichedSize(e *EnrichedEvent) int {
	return rawSize(&e.Raw) + 200 + len(e.ProfileID) + len(e.SessionID) + len(e.Geo.CountryCode) + len(e.Geo.Country) +
		len(e.Geo.Region) + len(e.Geo.City) + len(e.Geo.PostalCode) + len(e.Geo.TimeZone) + len(e.Geo.ASOrg) +
		len(e.UA.Browser) + len(e.UA.BrowserVersion) + len(e.UA.OS) + len(e.UA.OSVersion) + len(e.UA.Device) +
		len(e.UA.DeviceBrand) + len(e.UA.DeviceModel) + len(e.BotReason) + len(e.Referrer.Medium) + len(e.Referrer.Source) +
		len(e.Referrer.Term) + len(e.Referrer.Host) + len(e.Campaign.Source) + len(e.Campaign.Medium) + len(e.Campaign.Name) +
		len(e.Campaign.Term) + len(e.Campaign.Content) + len(e.Campaign.ClickID)
}
