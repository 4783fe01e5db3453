package facts

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BitLocker's volumes, as WMI lists them, mark the disks they protect; a
// locked volume is encrypted; a disk WMI does not name stays unknown.
func TestBitLocker(t *testing.T) {
	var vols []bitLockerVolume
	if err := json.Unmarshal([]byte(read(t, "testdata/windows/encryptable-volumes.json")), &vols); err != nil {
		t.Fatal(err)
	}
	disks := []wire.DiskFacts{{Mount: `C:\`}, {Mount: `D:\`}, {Mount: `E:`}, {Mount: `F:\`}}
	markEncrypted(disks, bitLocker(vols))
	for i, want := range []*bool{ptr(true), ptr(false), ptr(true), nil} {
		got := disks[i].Encrypted
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("%s: encrypted %v, want %v", disks[i].Mount, deref(got), deref(want))
		}
	}
	f := wire.Facts{Disks: disks[:2]}
	if v, ok := f.Value("disk.encrypted"); !ok || v != "false" {
		t.Errorf("disk.encrypted with D: unprotected = %q %v", v, ok)
	}
}

func TestWindowsFirewall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profiles map[string]uint32
		want     *bool
	}{
		{"every profile on", map[string]uint32{"DomainProfile": 1, "StandardProfile": 1, "PublicProfile": 1}, ptr(true)},
		{"the public profile off", map[string]uint32{"DomainProfile": 1, "StandardProfile": 1, "PublicProfile": 0}, ptr(false)},
		{"nothing readable", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := windowsFirewall(tc.profiles)
			if deref(got.Enabled) != deref(tc.want) {
				t.Errorf("enabled %v, want %v", deref(got.Enabled), deref(tc.want))
			}
		})
	}
}

// macOS's tools' outputs, captured.
func TestMacOSOutputs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want *bool
	}{
		{"fdesetup-on.txt", ptr(true)},
		{"fdesetup-encrypting.txt", ptr(true)},
		{"fdesetup-off.txt", ptr(false)},
		{"ioreg.txt", nil}, // not fdesetup's: unknown
	} {
		if got := fileVault(read(t, "testdata/darwin/"+tc.file)); deref(got) != deref(tc.want) {
			t.Errorf("FileVault from %s: %v, want %v", tc.file, deref(got), deref(tc.want))
		}
	}
	for _, tc := range []struct {
		file string
		want *bool
	}{
		{"socketfilterfw-on.txt", ptr(true)},
		{"socketfilterfw-essential.txt", ptr(true)},
		{"socketfilterfw-off.txt", ptr(false)},
		{"fdesetup-on.txt", nil},
	} {
		if got := macFirewall(read(t, "testdata/darwin/"+tc.file)); deref(got.Enabled) != deref(tc.want) {
			t.Errorf("firewall from %s: %v, want %v", tc.file, deref(got.Enabled), deref(tc.want))
		}
	}
	serial, uuid := ioregPlatform(read(t, "testdata/darwin/ioreg.txt"))
	if serial != "C02ZK0XXMD6T" || uuid != "2c1f9c54-3e70-5b8a-9f4b-6d0e3e1a9b7c" {
		t.Errorf("ioreg: serial %q uuid %q", serial, uuid)
	}
	for _, m := range []struct {
		mount, fstype string
		keep          bool
	}{{"/", "apfs", true}, {"/System/Volumes/Data", "apfs", true}, {"/System/Volumes/VM", "apfs", false}, {"/dev", "devfs", false}, {`C:\`, "NTFS", true}} {
		if keepMount(m.mount, m.fstype) != m.keep {
			t.Errorf("keepMount(%s, %s) = %v", m.mount, m.fstype, !m.keep)
		}
	}
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) string {
	if b == nil {
		return "unknown"
	}
	if *b {
		return "true"
	}
	return "false"
}
