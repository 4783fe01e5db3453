//go:build !windows

package secdir

import (
	"fmt"
	"os"
	"syscall"
)

func ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s is owned by uid %d, not root; remove it or chown it to root", ErrOwner, dir, st.Uid)
	}
	// Not chmod: --state-dir may name a directory shared with other
	// things; one that others can write to is refused instead.
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by users other than its owner (mode %s); use a directory only root can write",
			ErrOwner, dir, fi.Mode().Perm())
	}
	return nil
}

func describe(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("secdir: %w", err)
	}
	uid := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid = int(st.Uid)
	}
	return fmt.Sprintf("uid=%d mode=%s", uid, fi.Mode()), nil
}
