//go:build !windows

package secdir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %s, want 0700", fi.Mode().Perm())
	}
}

func TestEnsureRefusesDirWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(dir); !errors.Is(err, ErrOwner) {
		t.Fatalf("Ensure on a 0777 directory: %v, want ErrOwner", err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o777 {
		t.Errorf("a refused directory was changed to %s", fi.Mode().Perm())
	}
}

func TestEnsureRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := Ensure(dir); !errors.Is(err, ErrOwner) {
		t.Fatalf("Ensure on a nobody-owned directory: %v, want ErrOwner", err)
	}
}
