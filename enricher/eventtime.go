package enricher

// eventTime is the outcome of clock-skew correction. Times are Unix ms.
type eventTime struct {
	at      int64 // corrected event time
	skew    int64 // device clock minus collector clock (sentAt − receivedAt), 0 if unknown
	clamped bool  // the corrected time was beyond the future bound (or not positive)
}

// correctTime computes the event time of an event created at original by
// the device clock, sent at sent (device clock, 0 if unknown) and received
// at received (collector clock). With sent known, the device's clock offset
// is removed: at = received − (sent − original). A time further than bound
// past received is clamped to received.
func correctTime(original, sent, received, bound int64) eventTime {
	if original <= 0 {
		original = received
	}
	t := eventTime{at: original}
	if sent > 0 {
		t.skew = sent - received
		t.at = original - t.skew
	}
	if t.at > received+bound || t.at <= 0 {
		t.at, t.clamped = received, true
	}
	return t
}
