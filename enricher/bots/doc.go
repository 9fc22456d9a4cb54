// Package bots flags bot traffic for the enricher: events are flagged
// (schemas.EnrichedEvent Bot and BotReason), never dropped here.
//
// Sources, in priority order (the first that matches names the reason):
//
//   - "empty-user-agent": no agent, or only blanks (heuristic);
//   - "headless:<marker>": headless browsers and automation (HeadlessChrome,
//     PhantomJS, Selenium, WebDriver, Puppeteer, Playwright…) (heuristic);
//   - "crawler-list:<pattern>": the crawler-user-agents list (MIT, embedded,
//     see NOTICE.md), the entry's regexp verbatim;
//   - "http-client:<marker>": HTTP libraries and tools the list misses
//     (curl inside an agent, Java/1.x, PostmanRuntime, Guzzle…) (heuristic);
//   - "client-hint:headless": a Sec-CH-UA or Sec-CH-UA-Full-Version-List
//     client hint naming a headless brand (heuristic).
//
// Kind(reason) gives the part before ":", a bounded set fit for a metric
// label; the reason itself is not (about 1,500 values).
//
// Cost: every list pattern is analysed once (regexp/syntax) for literals of
// which every match must contain one; a three/four-byte window prefilter
// (prefilter.go) finds which of those occur in the agent, and only the
// patterns they name run their regexp. A browser agent costs ~0.3–0.5 µs
// and no allocation; a bot, a few regexp runs more. An LRU cache of
// verdicts (Config.CacheSize) brings a repeated agent to one map lookup.
// New takes ~35 ms (compiling 1,500 regexps).
//
// Guarantees: the prefilter never changes an answer (tests compare it with
// running every regexp on 16,808 real agents, and a fuzz test on any
// input); every example instance of the pinned list is flagged (2,116 of
// 2,116); the list, heuristics and data are embedded, so there is no file
// to read at run time; Check never fails and never panics, is safe for
// concurrent use, and examines the first MaxLen bytes of an agent only.
//
// How it fails: New fails only on a bad Config (out-of-range cache size, an
// Ignore entry that is not a list pattern) or a broken embedded list — a
// build problem. Known false positives come from over-broad list entries
// (a real browser flagged): on ua-parser's test agents, an Android 15 build
// id listed for 80legs ("AP3A\.240617\.008"), "008\/" inside an old Opera
// Mini version, "RED\/" inside the WIRED app's agent, "Teoma" on IE with
// the TeomaBar toolbar; Config.Ignore drops such entries. A bot that sends
// a browser's agent and no telling client hint is not caught: detection by
// behaviour over time (rates, sessions) belongs to later stages. A pattern
// whose literals cannot be extracted still works: it runs on every agent,
// at a cost (the test TestPatternsAllPrefiltered flags that on update).
package bots
