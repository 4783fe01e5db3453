package secdir

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// want is the descriptor Ensure applies: owner Administrators; a protected
// DACL with full file access for SYSTEM and Administrators, inherited by
// files (OI) and subdirectories (CI).
const want = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	cur, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("secdir: reading the owner of %s: %w", dir, err)
	}
	owner, _, err := cur.Owner()
	if err != nil {
		return fmt.Errorf("secdir: reading the owner of %s: %w", dir, err)
	}
	if !trusted(owner) {
		return fmt.Errorf("%w: %s is owned by %s, not SYSTEM, Administrators or this administrator; "+
			"delete it (or take ownership: takeown /a /r /f %q) and start again", ErrOwner, dir, account(owner), dir)
	}
	sd, err := windows.SecurityDescriptorFromString(want)
	if err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	newOwner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("secdir: %w", err)
	}
	// SetNamedSecurityInfo also re-applies the inheritable entries to what
	// the directory already holds.
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		newOwner, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("secdir: restricting %s to SYSTEM and Administrators: %w", dir, err)
	}
	got, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("secdir: reading back %s: %w", dir, err)
	}
	if err := check(got); err != nil {
		if onWine() {
			return fmt.Errorf("%w: Wine keeps no file ACLs (read back %s): %v", ErrNotEnforced, got, err)
		}
		return fmt.Errorf("secdir: %s after restricting it: %w", dir, err)
	}
	return nil
}

// check verifies a directory descriptor as read back: a trusted owner and a
// protected DACL whose allow entries name SYSTEM and Administrators only.
func check(sd *windows.SECURITY_DESCRIPTOR) error {
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return errors.New("no owner")
	}
	if !trusted(owner) {
		return fmt.Errorf("owner is %s", account(owner))
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return errors.New("no DACL (everyone has full access)")
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return err
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 {
		return errors.New("the DACL inherits entries from the parent directory")
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue // deny entries only take access away
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !sid.IsWellKnown(windows.WinLocalSystemSid) && !sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
			return fmt.Errorf("entry %d grants access to %s", i, account(sid))
		}
	}
	return nil
}

// trusted: SYSTEM, Administrators, or the account running this process
// when that account is itself an administrator (an elevated admin whose
// token makes new files theirs rather than the Administrators group's, as
// with the built-in Administrator account or under Wine). A standard
// user's directory is never trusted: no service or elevated CLI runs as
// that user.
func trusted(sid *windows.SID) bool {
	if sid.IsWellKnown(windows.WinLocalSystemSid) || sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		return true
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil || !windows.EqualSid(sid, tu.User.Sid) {
		return false
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false
	}
	member, err := windows.Token(0).IsMember(admins)
	return err == nil && member
}

// account names a SID for an error message: DOMAIN\user when it resolves.
func account(sid *windows.SID) string {
	if name, domain, _, err := sid.LookupAccount(""); err == nil {
		return domain + `\` + name + " (" + sid.String() + ")"
	}
	return sid.String()
}

// onWine reports whether this is Wine, whose file system keeps no security
// descriptors (it maps them to Unix mode bits and back).
func onWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func describe(dir string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("secdir: %w", err)
	}
	return sd.String(), nil
}
