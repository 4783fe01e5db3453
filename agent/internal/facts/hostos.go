package facts

import (
	"regexp"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// The parsers of what Windows and macOS tell about disk encryption, the
// firewall and the machine's identity. They live in a file every OS
// builds, so that the tests run them on captured outputs anywhere; the
// thin readers that ask the OS are facts_windows.go and facts_darwin.go.

// bitLockerVolume is a row of WMI's Win32_EncryptableVolume (namespace
// root\CIMV2\Security\MicrosoftVolumeEncryption).
type bitLockerVolume struct {
	DriveLetter      string // "C:"; empty for a volume without one
	ProtectionStatus uint32 // 0 off, 1 on, 2 unknown (locked)
}

// bitLocker maps drive letters ("C:") to whether BitLocker protects them.
// A locked volume (status 2) is encrypted; its protection merely cannot
// be read.
func bitLocker(vols []bitLockerVolume) map[string]bool {
	out := map[string]bool{}
	for _, v := range vols {
		if l := strings.ToUpper(strings.TrimSpace(v.DriveLetter)); l != "" {
			out[l] = v.ProtectionStatus == 1 || v.ProtectionStatus == 2
		}
	}
	return out
}

// markEncrypted sets each disk's Encrypted from enc, by mount point
// ("C:\" and "C:" alike); disks enc does not name stay unknown.
func markEncrypted(disks []wire.DiskFacts, enc map[string]bool) {
	for i := range disks {
		key := strings.ToUpper(strings.TrimRight(disks[i].Mount, `\/`))
		if e, ok := enc[key]; ok {
			disks[i].Encrypted = &e
		}
	}
}

// windowsFirewall reads the EnableFirewall values of Windows Defender
// Firewall's profiles (HKLM\SYSTEM\CurrentControlSet\Services\
// SharedAccess\Parameters\FirewallPolicy\{Domain,Standard,Public}Profile):
// enabled when every profile that has the value is on. None readable:
// unknown.
func windowsFirewall(profiles map[string]uint32) wire.FirewallFacts {
	if len(profiles) == 0 {
		return wire.FirewallFacts{}
	}
	on := true
	for _, v := range profiles {
		on = on && v != 0
	}
	return wire.FirewallFacts{Enabled: &on, Name: "Windows Defender Firewall"}
}

// macFirewall parses `socketfilterfw --getglobalstate`: "Firewall is
// enabled. (State = 1)", "… blocking all non-essential …" (State = 2) or
// "Firewall is disabled. (State = 0)". Anything else: unknown.
func macFirewall(out string) wire.FirewallFacts {
	m := regexp.MustCompile(`State = (\d)`).FindStringSubmatch(out)
	if m == nil {
		return wire.FirewallFacts{}
	}
	on := m[1] != "0"
	return wire.FirewallFacts{Enabled: &on, Name: "Application Firewall"}
}

// fileVault parses `fdesetup status`: "FileVault is On." (also while
// encryption is in progress: the disk is being protected) or "FileVault
// is Off." Anything else (not run as root): unknown.
func fileVault(out string) *bool {
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "FileVault is On"):
			on := true
			return &on
		case strings.HasPrefix(line, "FileVault is Off"):
			off := false
			return &off
		}
	}
	return nil
}

// ioregPlatform parses `ioreg -rd1 -c IOPlatformExpertDevice`: the
// machine's serial number and platform UUID.
func ioregPlatform(out string) (serial, uuid string) {
	field := func(name string) string {
		m := regexp.MustCompile(`"` + name + `"\s*=\s*"([^"]*)"`).FindStringSubmatch(out)
		if m == nil {
			return ""
		}
		return m[1]
	}
	return field("IOPlatformSerialNumber"), strings.ToLower(field("IOPlatformUUID"))
}

// systemMounts are file systems of the OS itself that say nothing about
// the machine's disks (macOS's sealed system volume snapshots and
// helpers, Windows has none).
var systemMounts = []string{"/System/Volumes/VM", "/System/Volumes/Preboot", "/System/Volumes/Update", "/System/Volumes/xarts",
	"/System/Volumes/iSCPreboot", "/System/Volumes/Hardware", "/dev"}

// keepMount reports whether a mount point is one of the machine's disks.
func keepMount(mount, fstype string) bool {
	switch strings.ToLower(fstype) {
	case "devfs", "autofs", "nullfs", "tmpfs":
		return false
	}
	return !slices.Contains(systemMounts, mount) && !strings.HasPrefix(mount, "/System/Volumes/Update/")
}
