package datalock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// One holder at a time; released, the directory can be taken again; a
// lock file the holder created goes with a forgetting release, one that
// was there stays.
func TestOneHolder(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir); !errors.Is(err, ErrHeld) {
		t.Fatalf("second holder: %v, want ErrHeld", err)
	}
	if err := a.Release(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, Name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock file it created is still there: %v", err)
	}
	b, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	b.Release(false)
	c, err := Acquire(dir) // the file exists now: not created by c
	if err != nil {
		t.Fatal(err)
	}
	c.Release(true)
	if _, err := os.Stat(filepath.Join(dir, Name)); err != nil {
		t.Fatalf("a lock file it found was removed: %v", err)
	}
}
