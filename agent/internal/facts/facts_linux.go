package facts

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// collectOS reads Linux's own files: /etc/os-release, /proc (kernel, CPU,
// memory, mounts), /sys/class/dmi/id (SMBIOS: UUID, serial, the cloud),
// /sys/class/block (dm-crypt under a file system); live, it asks statfs
// for sizes and nftables for the firewall.
func collectOS(ctx context.Context, src Sources, f *wire.Facts) {
	root := src.root()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	rel := keyValues(read("etc/os-release"))
	if rel["ID"] == "" { // some systems keep it in /usr/lib only
		rel = keyValues(read("usr/lib/os-release"))
	}
	f.OS.Name, f.OS.Version, f.OS.Build = rel["ID"], rel["VERSION_ID"], rel["BUILD_ID"]
	f.OS.Kernel = read("proc/sys/kernel/osrelease")
	f.Hostname = read("proc/sys/kernel/hostname")
	for _, line := range strings.Split(read("proc/cpuinfo"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "processor":
			if ok {
				f.CPU.Cores++
			}
		case "model name":
			if f.CPU.Model == "" {
				f.CPU.Model = strings.TrimSpace(v)
			}
		}
	}
	for _, line := range strings.Split(read("proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			if kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
				f.MemoryBytes = kb << 10
			}
		}
	}
	dmi := func(n string) string { return read("sys/class/dmi/id/" + n) }
	if src.SMBIOSDir != "" {
		dmi = func(n string) string {
			b, _ := os.ReadFile(filepath.Join(src.SMBIOSDir, n))
			return strings.TrimSpace(string(b))
		}
	}
	f.MachineUUID, f.Serial = strings.ToLower(dmi("product_uuid")), dmi("product_serial")
	f.Cloud.Provider = provider(dmi("sys_vendor"), dmi("product_name"), dmi("bios_vendor"), dmi("chassis_asset_tag"))
	if f.Cloud.Provider != "" && f.Cloud.Provider != "none" {
		metadata(ctx, src, &f.Cloud)
	}
	f.Disks = disks(root, read("proc/self/mountinfo"), src.Live)
	if src.Live {
		f.Firewall = firewall()
	}
}

// keyValues parses os-release's KEY=value lines (values maybe quoted).
func keyValues(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// realFS are the file systems that hold data (not proc, tmpfs, overlay…).
var realFS = map[string]bool{"ext4": true, "ext3": true, "ext2": true, "xfs": true, "btrfs": true, "zfs": true, "f2fs": true, "vfat": true, "exfat": true, "ntfs3": true}

// disks lists the mounted real file systems from mountinfo, each with
// whether its block device is (or lies on) dm-crypt, and, live, its size.
func disks(root, mountinfo string, live bool) []wire.DiskFacts {
	var out []wire.DiskFacts
	seen := map[string]bool{}
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent major:minor root mountpoint options … - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 2 || !realFS[b[0]] || seen[a[2]] {
			continue
		}
		seen[a[2]] = true // one entry per device (bind mounts repeat it)
		mount := unescapeMount(a[4])
		d := wire.DiskFacts{Mount: mount}
		enc := encrypted(root, a[2], 0)
		d.Encrypted = &enc
		if live {
			var st unix.Statfs_t
			if unix.Statfs(mount, &st) == nil {
				d.SizeBytes, d.FreeBytes = st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
			}
		}
		out = append(out, d)
		if len(out) == wire.MaxDisks {
			break
		}
	}
	return out
}

// encrypted reports whether block device major:minor is a dm-crypt
// mapping or lies on one (LVM on LUKS), through /sys/dev/block.
func encrypted(root, majmin string, depth int) bool {
	if depth > 8 {
		return false
	}
	dir := filepath.Join(root, "sys/dev/block", majmin)
	if uuid, err := os.ReadFile(filepath.Join(dir, "dm/uuid")); err == nil && strings.HasPrefix(string(uuid), "CRYPT-") {
		return true
	}
	slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
	for _, s := range slaves {
		dev, err := os.ReadFile(filepath.Join(root, "sys/class/block", s.Name(), "dev"))
		if err == nil && encrypted(root, strings.TrimSpace(string(dev)), depth+1) {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// firewall says whether nftables (iptables-nft included) has a chain on
// the input hook with a dropping policy or any rule.
func firewall() wire.FirewallFacts {
	c, err := nftables.New()
	if err != nil {
		return wire.FirewallFacts{}
	}
	chains, err := c.ListChains()
	if err != nil {
		return wire.FirewallFacts{}
	}
	on := false
	for _, ch := range chains {
		if ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookInput {
			continue
		}
		if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
			on = true
			break
		}
		if rules, err := c.GetRules(ch.Table, ch); err == nil && len(rules) > 0 {
			on = true
			break
		}
	}
	return wire.FirewallFacts{Enabled: &on, Name: "nftables"}
}
