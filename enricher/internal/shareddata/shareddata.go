// Package shareddata locates the project's shared real test data
// (../shared/data relative to the module root) for the enricher's tests.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns the absolute path of rel under shared/data, failing the test
// with a clear message when the folder is not beside the module root.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("locating shared data: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("locating shared data: no go.mod above the test's directory")
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test data %s is missing (expected ../shared/data beside the module root): %v", rel, err)
	}
	return p
}
