package referrer

// Sillage's own additions to the Matomo lists: webmail hosts (Matomo has no
// email list) and the Android package names that apps send as referrer
// (android-app://com.facebook.katana/) for apps Matomo's Socials.yml does
// not name by package. Entries match the host and its subdomains, like the
// Matomo social and AI lists; a "/path" restricts an entry to that path.
var webmail = map[string][]string{
	"Gmail":          {"mail.google.com", "inbox.google.com", "com.google.android.gm"},
	"Outlook":        {"outlook.live.com", "outlook.office.com", "outlook.office365.com", "outlook.cloud.microsoft", "mail.live.com", "com.microsoft.office.outlook"},
	"Yahoo Mail":     {"mail.yahoo.com", "mail.yahoo.co.jp", "com.yahoo.mobile.client.android.mail"},
	"AOL Mail":       {"mail.aol.com"},
	"Proton Mail":    {"mail.proton.me", "mail.protonmail.com", "ch.protonmail.android"},
	"iCloud Mail":    {"icloud.com/mail"},
	"Zoho Mail":      {"mail.zoho.com", "mail.zoho.eu", "mail.zoho.in"},
	"Yandex Mail":    {"mail.yandex.ru", "mail.yandex.com", "mail.yandex.by", "mail.yandex.kz", "mail.yandex.com.tr"},
	"Mail.ru":        {"e.mail.ru", "octavius.mail.ru"},
	"GMX":            {"navigator.gmx.net", "mail.gmx.net", "mail.gmx.com", "3c.gmx.net", "3c-bap.gmx.net"},
	"WEB.DE":         {"navigator.web.de", "3c.web.de", "3c-bap.web.de"},
	"T-Online Mail":  {"email.t-online.de"},
	"Seznam Email":   {"email.seznam.cz"},
	"QQ Mail":        {"mail.qq.com", "wx.mail.qq.com"},
	"NetEase Mail":   {"mail.163.com", "mail.126.com"},
	"Naver Mail":     {"mail.naver.com"},
	"Daum Mail":      {"mail.daum.net"},
	"Rambler Mail":   {"mail.rambler.ru"},
	"Onet Poczta":    {"poczta.onet.pl"},
	"WP Poczta":      {"poczta.wp.pl"},
	"Interia Poczta": {"poczta.interia.pl"},
	"Fastmail":       {"app.fastmail.com", "www.fastmail.com/mail"},
	"Tuta":           {"app.tuta.com", "mail.tutanota.com"},
	"HEY":            {"app.hey.com"},
	"Superhuman":     {"mail.superhuman.com"},
}

// apps are Android package names of social apps, by their Socials.yml name.
var apps = map[string][]string{
	"Facebook":  {"com.facebook.katana", "com.facebook.lite", "com.facebook.orca"},
	"Instagram": {"com.instagram.android"},
	"Twitter":   {"com.twitter.android"},
	"YouTube":   {"com.google.android.youtube"},
	"TikTok":    {"com.zhiliaoapp.musically", "com.ss.android.ugc.trill"},
	"Pinterest": {"com.pinterest"},
	"Discord":   {"com.discord"},
	"Threads":   {"com.instagram.barcelona"},
	"Bluesky":   {"xyz.blueskyweb.app"},
}
