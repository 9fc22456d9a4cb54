package collector

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/schemas"
)

func TestNormaliseConsent(t *testing.T) {
	all := schemas.Consent{Necessary: true, Analytics: true, Personalisation: true, Marketing: true, Advertising: true}
	tests := []struct {
		name   string
		prefs  string
		gpc    bool
		want   schemas.Consent
		origin string
	}{
		{"absent fails closed", ``, false, schemas.NecessaryOnly(), "none"},
		{"null fails closed", `null`, false, schemas.NecessaryOnly(), "none"},
		{"not an object fails closed", `["analytics"]`, false, schemas.NecessaryOnly(), "none"},
		{"empty object: a choice of nothing", `{}`, false, schemas.NecessaryOnly(), "tag"},
		{"tag categories", `{"analytics":true,"personalisation":true,"marketing":true,"advertising":true}`, false, all, "tag"},
		{"case and spelling", `{"Analytics":true,"Personalization":true,"Marketing":true,"Advertising":true}`, false, all, "tag"},
		{"CMP names", `{"Strictly Necessary":true,"Performance":true,"Functional":true,"Targeting":true}`, false,
			schemas.Consent{Necessary: true, Analytics: true, Personalisation: true, Advertising: true}, "tag"},
		{"OneTrust group ids", `{"C0001":true,"C0002":true,"C0003":false,"C0004":true}`, false,
			schemas.Consent{Necessary: true, Analytics: true, Advertising: true}, "tag"},
		{"Consent Mode names", `{"analytics_storage":true,"ad_storage":true,"ad_user_data":false}`, false,
			schemas.Consent{Necessary: true, Analytics: true}, "tag"},
		{"only JSON true grants", `{"analytics":"true","marketing":1,"advertising":"yes"}`, false, schemas.NecessaryOnly(), "tag"},
		{"necessary cannot be denied", `{"necessary":false}`, false, schemas.NecessaryOnly(), "tag"},
		{"unknown names grant nothing", `{"DataSharing":true}`, false, schemas.NecessaryOnly(), "tag"},
		{"GPC forces marketing and advertising off", `{"analytics":true,"marketing":true,"advertising":true}`, true,
			schemas.Consent{Necessary: true, Analytics: true}, "tag"},
		{"GPC alone", ``, true, schemas.NecessaryOnly(), "gpc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sig := normaliseConsent([]byte(tt.prefs), tt.gpc)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.origin, sig.Origin)
			require.Equal(t, tt.gpc, sig.GPC)
			if tt.origin == "tag" {
				require.JSONEq(t, tt.prefs, sig.CategoriesJSON)
			} else {
				require.Empty(t, sig.CategoriesJSON)
			}
		})
	}
}

// Every alias maps to a category of the canonical list.
func TestCategoryAliasesAreCanonical(t *testing.T) {
	for alias, cat := range categoryAliases {
		require.Contains(t, schemas.ConsentCategories, cat, alias)
		require.Equal(t, normaliseName(alias), alias, "aliases are stored normalised")
	}
}
