//go:build race

package schemas

// raceEnabled: allocation counts are not meaningful under the race detector.
const raceEnabled = true
