// Package referrer classifies an event's referrer and reads its campaign,
// filling schemas.Referrer{Medium, Source, Term, Host} and
// schemas.Campaign{Source, Medium, Name, Term, Content, ClickID}.
//
// Mediums: direct (no referrer), internal (the page's own host, ignoring
// "www.", or a configured internal domain or its subdomain), search (Source
// is the engine, Term the query when the engine sent it), social, ai (AI
// assistants), email (a webmail host, or utm_medium=email), paid (an ad click
// id — gclid, gbraid, wbraid, dclid, msclkid, ttclid, li_fat_id, twclid — or
// utm_medium cpc, ppc, cpm, cpv, cpa, display, banner, retargeting, paid…),
// unknown (any other site: Source is its host). A campaign's paid or email
// medium wins over the referrer; Source then stays the referrer's list name
// when it has one, else utm_source, else the ad platform. fbclid is recorded
// as the click id but does not make a visit paid: Facebook adds it to
// organic links too. Host is always the referrer's host ("" when none).
// Without a referrer, a host-like utm_source naming a known AI assistant,
// social network or webmail (utm_source=chatgpt.com) gives that medium.
//
// Campaign: utm_source, utm_medium, utm_campaign (Name), utm_term and
// utm_content from the page URL's query, each overridden by the SDK's
// context.campaign when that has it (ContextCampaign reads it from the
// context JSON). ClickID is "<param>:<value>" ("gclid:Cj0KCQ…"), the first
// present in the order above. Values are URL-unescaped, trimmed, made valid
// UTF-8 and capped at MaxValueLen bytes.
//
// Data: Matomo's referrer lists (SearchEngines.yml, Socials.yml,
// AIAssistants.yml from github.com/matomo-org/searchengine-and-social-list,
// public domain under CC0 1.0; see data/NOTICE.md and data/LICENSE) are
// embedded and parsed once by New, plus Sillage's own short list of webmail
// hosts and Android app package names (extra.go). Matching follows Matomo:
// social, AI and webmail entries match the host and its subdomains
// (m.facebook.com, l.instagram.com, com.linkedin.android), and an entry with
// a path (x.com/i/grok) only under that path; search engines match the exact
// host, then its "lossy" form with the "{}" country placeholder
// (www.google.co.uk → google.{}, de.search.yahoo.com → {}.search.yahoo.com),
// but not parent domains, and a referrer counts as a search only when it
// carries the term or is one of the engine's term-less paths
// (hiddenkeyword), so youtube.com/watch is social, not search. AI
// assistants win over search engines (chatgpt.com is in both lists).
// Not done: Matomo's charset conversion of legacy-encoded terms (invalid
// UTF-8 is replaced instead) and its ad-hoc fallbacks (AdSense-for-search
// cx=partner-pub-…); terms keep the case they were typed in.
//
// Guarantees: the same inputs always give the same output; Classify never
// fails and never panics (fuzzed), whatever the bytes — an unreadable
// referrer is "unknown" with an empty Host, an unreadable page URL gives an
// empty campaign. The Classifier is immutable and safe for concurrent use.
//
// Cost: lookups are map probes on substrings of the input, built at
// construction; the common case allocates nothing (a term or value with
// %-escapes, and the ClickID string, allocate). Regular expressions run only
// for the few engines that keep the term in the path, and for term-less
// Google/Bing/Yahoo paths that are neither empty nor "/".
//
// Failure: New fails only if the embedded lists do not parse or a configured
// internal domain is not a host name (the error names the field).
package referrer
