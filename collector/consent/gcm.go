package consent

import (
	"fmt"
)

// State is a Google Consent Mode consent type's state.
type State byte

const (
	Unset   State = iota // never set, or set neither way
	Denied               // the state in force is denied
	Granted              // the state in force is granted
)

func (s State) String() string {
	return [...]string{"unset", "denied", "granted"}[s]
}

// GCS is Google Consent Mode's gcs parameter decoded: "G1" followed by
// ad_storage then analytics_storage, each '1' granted, '0' denied or '-'
// not set (e.g. G111, G100, G101, G1--), as gtag.js hits carry it and as
// it is widely described (G100 all denied … G111 all granted).
//
// Consent Mode v2's gcd parameter (which adds ad_user_data and
// ad_personalization, and how each state was reached) is not read: Google
// does not document its layout, so no mapping of it could be checked. When
// sent under context.consent it stays in the event's context JSON.
type GCS struct {
	AdStorage, AnalyticsStorage State
}

// ParseGCS decodes a gcs value; the error says what is wrong.
func ParseGCS(s string) (GCS, error) {
	if len(s) != 4 || s[0] != 'G' || s[1] != '1' {
		return GCS{}, fmt.Errorf("gcs %q: want G1 followed by two of 0, 1, - (ad_storage, analytics_storage), e.g. G111", clip(s))
	}
	var g GCS
	for i, dst := range [...]*State{&g.AdStorage, &g.AnalyticsStorage} {
		switch s[2+i] {
		case '1':
			*dst = Granted
		case '0':
			*dst = Denied
		case '-':
			*dst = Unset
		default:
			return GCS{}, fmt.Errorf("gcs %q: character %d is %q, want 0, 1 or -", clip(s), 3+i, s[2+i])
		}
	}
	return g, nil
}

// clip bounds a signal quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
