package app

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	require.NoError(t, err)
	_, err = lockDataDir(dir)
	require.ErrorContains(t, err, "is in use by another sillage process")
	unlock()
	unlock2, err := lockDataDir(dir)
	require.NoError(t, err, "released")
	unlock2()
}
