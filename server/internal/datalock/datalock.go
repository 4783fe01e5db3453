// Package datalock holds a data directory for one process: the server
// while it runs, and restore while it replaces files. The lock is an
// OS file lock (flock on Unix, LockFileEx on Windows) on a file in the
// directory, so it is released by the kernel when the holder dies —
// unlike the admin socket, whose presence proves nothing (a deleted
// socket once let restore --force run under a live server).
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// Name is the lock file's name in the data directory; backups skip it.
const Name = "wirefleet.lock"

// ErrHeld is returned when another process holds the directory.
var ErrHeld = errors.New("datalock: held by another process")

// Lock is a held data directory.
type Lock struct {
	fl      *flock.Flock
	created bool
}

// Acquire takes the lock of dir without waiting. It fails with an error
// wrapping ErrHeld when a running server (or a restore) holds it.
func Acquire(dir string) (*Lock, error) {
	p := filepath.Join(dir, Name)
	_, statErr := os.Stat(p)
	fl := flock.New(p, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("datalock: lock %s: %w", p, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: another wirefleet-server is already running on %s (or a restore is under way); stop it first", ErrHeld, dir)
	}
	return &Lock{fl: fl, created: errors.Is(statErr, os.ErrNotExist)}, nil
}

// Release lets the directory go. With forget, a lock file this Lock
// created is removed too, so that a directory it found empty is left
// empty.
func (l *Lock) Release(forget bool) error {
	err := l.fl.Unlock()
	if forget && l.created {
		if rerr := os.Remove(l.fl.Path()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
