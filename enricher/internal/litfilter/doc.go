// Package litfilter skips regular expressions that cannot match a text.
//
// Required analyses a pattern (regexp/syntax) for literals of which every
// match must contain one; Index finds which of many literals occur in a
// text in one pass; Filter ties the two together for an ordered list of
// patterns and names, for a text, the patterns worth running (those whose
// literal occurs, plus those without a usable literal). Callers still run
// each candidate's regexp: the filter only removes patterns that provably
// cannot match, so "first matching pattern in list order" is unchanged.
//
// Cost: Index.Each and Filter.Candidates cost a few nanoseconds a byte of
// text (a 120-byte browser agent: well under a microsecond) and allocate
// nothing; building them is linear in the literals.
package litfilter
