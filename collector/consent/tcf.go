package consent

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prebid/go-gdpr/api"
	"github.com/prebid/go-gdpr/consentconstants"
	"github.com/prebid/go-gdpr/vendorconsent"
	tcf2 "github.com/prebid/go-gdpr/vendorconsent/tcf2"
)

// MaxSignalBytes bounds a consent signal that is decoded: a TC string
// listing every vendor of the Global Vendor List by bit field is under
// 1 KB, one with many publisher restrictions a few KB.
const MaxSignalBytes = 16 << 10

// TCString is a decoded IAB TC string: its core segment as
// github.com/prebid/go-gdpr reads it, and its other segments (Segments).
// Version 1 strings (TCF v1.1) decode too, with the fields v1 has, but
// grant nothing (see Vector).
type TCString struct {
	Version             uint8
	Created             time.Time
	LastUpdated         time.Time
	CmpID               uint16
	CmpVersion          uint16
	ConsentScreen       uint8
	ConsentLanguage     string
	VendorListVersion   uint16
	PolicyVersion       uint8 // 0 for v1
	PurposeOneTreatment bool  // v2: purpose 1 was not disclosed to the user
	Segments            Segments

	vc api.VendorConsents
	v2 *tcf2.ConsentMetadata // nil for v1
}

// DecodeTCF decodes a TC string (base64url without padding, segments
// separated by '.'). The error says what is wrong.
func DecodeTCF(s string) (t *TCString, err error) {
	switch {
	case s == "":
		return nil, errors.New("TC string is empty")
	case len(s) > MaxSignalBytes:
		return nil, fmt.Errorf("TC string is %d bytes, longer than %d", len(s), MaxSignalBytes)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && b64(c) < 0 {
			return nil, fmt.Errorf("TC string has %q at byte %d: want base64url (A-Z a-z 0-9 - _) without padding, segments separated by '.'", c, i)
		}
	}
	parts := strings.Split(s, ".")
	core := parts[0]
	if core == "" {
		return nil, errors.New("TC string has an empty core segment")
	}
	vc, err := parseCore(core)
	if err != nil {
		if errors.Is(err, consentconstants.ErrEmptyDecodedConsent) {
			return nil, errors.New("TC string is empty")
		}
		return nil, fmt.Errorf("decoding TC string: %w", err)
	}
	t = &TCString{
		Version:           vc.Version(),
		Created:           vc.Created().UTC(),
		LastUpdated:       vc.LastUpdated().UTC(),
		CmpID:             vc.CmpID(),
		CmpVersion:        vc.CmpVersion(),
		ConsentScreen:     vc.ConsentScreen(),
		ConsentLanguage:   vc.ConsentLanguage(),
		VendorListVersion: vc.VendorListVersion(),
		PolicyVersion:     vc.TCFPolicyVersion(),
		vc:                vc,
	}
	switch t.Version {
	case 1:
		if len(parts) > 1 {
			return nil, errors.New("TC string is TCF v1 but has '.'-separated segments, which only v2 has")
		}
	case 2:
		m, ok := vc.(tcf2.ConsentMetadata)
		if !ok {
			return nil, fmt.Errorf("decoding TC string: unexpected %T for version 2", vc)
		}
		t.v2 = &m
		t.PurposeOneTreatment = m.PurposeOneTreatment()
		if t.Segments, err = decodeSegments(parts[1:]); err != nil {
			return nil, fmt.Errorf("decoding TC string: %w", err)
		}
	default:
		return nil, fmt.Errorf("TC string has version %d: only TCF v1 (1) and v2.x (2) exist", t.Version)
	}
	return t, nil
}

// parseCore decodes the core segment with go-gdpr. go-gdpr v1.12.0
// indexes past the end of some truncated strings (e.g. a v2 string whose
// vendor legitimate interest section is missing) instead of returning an
// error: that is a malformed string too, reported as such.
func parseCore(core string) (vc api.VendorConsents, err error) {
	defer func() {
		if r := recover(); r != nil {
			vc, err = nil, fmt.Errorf("it ends before its last section (go-gdpr: %v)", r)
		}
	}()
	return vendorconsent.ParseString(core)
}

// PurposeConsent reports whether the user consented to purpose p (1-24).
func (t *TCString) PurposeConsent(p int) bool {
	return p >= 1 && p <= 24 && t.vc.PurposeAllowed(consentconstants.Purpose(p))
}

// PurposeLegitimateInterest reports whether the user was told of, and did
// not object to, legitimate interest for purpose p (v2 only).
func (t *TCString) PurposeLegitimateInterest(p int) bool {
	return t.v2 != nil && p >= 1 && p <= 24 && t.v2.PurposeLITransparency(consentconstants.Purpose(p))
}

// SpecialFeatureOptIn reports whether the user opted in to special feature
// f (1-12; v2 only).
func (t *TCString) SpecialFeatureOptIn(f int) bool {
	return t.v2 != nil && f >= 1 && f <= 12 && t.v2.SpecialFeatureOptIn(uint16(f))
}

// MaxVendorID is the highest vendor id of the vendor consent section.
func (t *TCString) MaxVendorID() int { return int(t.vc.MaxVendorID()) }

// VendorConsent reports whether vendor id has the user's consent.
func (t *TCString) VendorConsent(id int) bool {
	return id >= 1 && id <= t.MaxVendorID() && t.vc.VendorConsent(uint16(id))
}

// MaxVendorLegitimateInterestID is the highest vendor id of the vendor
// legitimate interest section (0 for v1).
func (t *TCString) MaxVendorLegitimateInterestID() int {
	if t.v2 == nil {
		return 0
	}
	return int(t.v2.VendorLegitInterestMaxID())
}

// VendorLegitimateInterest reports whether vendor id may rely on
// legitimate interest (v2 only).
func (t *TCString) VendorLegitimateInterest(id int) bool {
	return t.v2 != nil && id >= 1 && id <= t.MaxVendorLegitimateInterestID() && t.v2.VendorLegitInterest(uint16(id))
}

// Publisher restriction types (TCF v2 core segment).
const (
	RestrictionNotAllowed      = 0 // the publisher allows the purpose to no vendor listed
	RestrictionRequireConsent  = 1
	RestrictionRequireLegitInt = 2
)

// PublisherRestriction reports whether the publisher restricts purpose p
// for vendor id with restriction type typ (v2 only).
func (t *TCString) PublisherRestriction(p, typ, id int) bool {
	return t.v2 != nil && p >= 1 && p <= 63 && typ >= 0 && typ <= 3 && id >= 1 && id <= 0xffff &&
		t.v2.CheckPubRestriction(uint8(p), uint8(typ), uint16(id))
}

// ids lists the ids from 1 to max for which has is true.
func ids(max int, has func(int) bool) []int {
	out := []int{}
	for i := 1; i <= max; i++ {
		if has(i) {
			out = append(out, i)
		}
	}
	return out
}

// PurposeConsents lists the purposes (1-24) with the user's consent.
func (t *TCString) PurposeConsents() []int { return ids(24, t.PurposeConsent) }

// PurposeLegitimateInterests lists the purposes with legitimate interest.
func (t *TCString) PurposeLegitimateInterests() []int { return ids(24, t.PurposeLegitimateInterest) }

// SpecialFeatureOptIns lists the special features opted in to.
func (t *TCString) SpecialFeatureOptIns() []int { return ids(12, t.SpecialFeatureOptIn) }

// VendorConsents lists the vendors with the user's consent.
func (t *TCString) VendorConsents() []int { return ids(t.MaxVendorID(), t.VendorConsent) }

// VendorLegitimateInterests lists the vendors with legitimate interest.
func (t *TCString) VendorLegitimateInterests() []int {
	return ids(t.MaxVendorLegitimateInterestID(), t.VendorLegitimateInterest)
}
