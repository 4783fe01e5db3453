// Package secdir makes the agent's state directory private to the machine's
// administrators before anything is written to it: the WireGuard key and
// machine credential (sealed, but still secrets), the configuration, the
// network-map and flag caches and the update directory.
//
// On Windows the directory gets a protected DACL (no inherited entries)
// granting full control to SYSTEM and Administrators only, inherited by
// everything inside, and Administrators as owner; a directory that already
// exists but is owned by anyone else (a standard user who created
// C:\ProgramData\Wirefleet before the install, hoping to keep write access
// through ownership) is refused. Elsewhere the directory is created 0700
// and must belong to root (or to the user running the agent) and not be
// writable by anyone else.
package secdir

import "errors"

// ErrOwner is wrapped by Ensure's error when an existing directory belongs
// to someone who is not trusted to own the agent's state.
var ErrOwner = errors.New("secdir: state directory has an untrusted owner")

// ErrNotEnforced is wrapped by Ensure's error when the ACL was set but the
// platform does not keep it (Wine's file system); callers warn and go on.
var ErrNotEnforced = errors.New("secdir: this platform does not enforce the state directory's ACL")

// Ensure creates dir when it is missing, refuses it when its owner is not
// trusted, and restricts it to the machine's administrators.
func Ensure(dir string) error { return ensure(dir) }

// Describe returns the directory's owner and access list as the OS states
// them (SDDL on Windows, "uid=0 mode=drwx------" elsewhere), for status
// output and tests that read back what Ensure set.
func Describe(dir string) (string, error) { return describe(dir) }
