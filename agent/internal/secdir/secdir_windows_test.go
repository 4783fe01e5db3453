package secdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// tempDir is not t.TempDir: under Wine, removing an ACL-restricted
// directory fails with "Invalid function", which t.TempDir reports as a
// test failure.
func tempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "wirefleet-secdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// TestEnsureSetsAndReadsBack applies the descriptor to a directory that
// already holds a file and reads it back. Windows keeps it; Wine maps file
// ACLs to Unix mode bits, so there Ensure must say it is not enforced
// rather than pretend.
func TestEnsureSetsAndReadsBack(t *testing.T) {
	dir := filepath.Join(tempDir(t), "Wirefleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Ensure(dir)
	got, derr := Describe(dir)
	if derr != nil {
		t.Fatal(derr)
	}
	t.Logf("read back: %s", got)
	if onWine() {
		if !errors.Is(err, ErrNotEnforced) {
			t.Fatalf("under Wine Ensure returned %v, want ErrNotEnforced", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"O:BA", "D:P", "(A;OICI;FA;;;SY)", "(A;OICI;FA;;;BA)"} {
		if !strings.Contains(got, part) {
			t.Errorf("descriptor %q lacks %q", got, part)
		}
	}
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := Describe(dir); again != got {
		t.Errorf("second Ensure changed the descriptor: %s → %s", got, again)
	}
}

// TestCheck runs the read-back check over descriptors built by the Windows
// security API from SDDL: only the one Ensure applies passes.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		sddl, fails string
	}{
		{want, ""},
		{"O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", ""},
		{"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(D;;FA;;;BU)", ""},
		{"O:BAD:(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", "inherits"},
		{"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)", "grants access"},
		{"O:BAD:P(A;OICI;FA;;;SY)(A;;FR;;;WD)", "grants access"},
		{"O:BUD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", "owner"},
		{"O:BA", "no DACL"},
	} {
		sd, err := windows.SecurityDescriptorFromString(c.sddl)
		if err != nil {
			t.Fatalf("%s: %v", c.sddl, err)
		}
		err = check(sd)
		switch {
		case c.fails == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", c.sddl, err)
		case c.fails != "" && (err == nil || !strings.Contains(err.Error(), c.fails)):
			t.Errorf("%s: %v, want an error about %q", c.sddl, err, c.fails)
		}
	}
}

// TestEnsureRefusesForeignOwner: a directory owned by a standard user
// (here the Users group, which no service or elevated admin runs as) is
// refused and left as it was.
func TestEnsureRefusesForeignOwner(t *testing.T) {
	dir := filepath.Join(tempDir(t), "Wirefleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	users, err := windows.CreateWellKnownSid(windows.WinBuiltinUsersSid)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION, users, nil, nil, nil); err != nil {
		t.Skipf("cannot hand the directory to Users here (needs SeRestorePrivilege): %v", err)
	}
	before, _ := Describe(dir)
	if !strings.HasPrefix(before, "O:BU") {
		t.Skipf("this platform did not keep the new owner (read back %s): Wine derives owners from Unix uids", before)
	}
	err = Ensure(dir)
	if !errors.Is(err, ErrOwner) {
		t.Fatalf("Ensure on a Users-owned directory: %v, want ErrOwner", err)
	}
	t.Logf("refused: %v", err)
	if after, _ := Describe(dir); after != before {
		t.Errorf("a refused directory was changed: %s → %s", before, after)
	}
}
