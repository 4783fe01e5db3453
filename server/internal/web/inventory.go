package web

import (
	"fmt"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// invRow is one line of a machine's inventory as the page shows it.
type invRow struct {
	Label, Value string
	Bad          bool // worth an admin's eye (a disk not encrypted, no firewall)
}

// inventoryRows puts a machine's facts in words (nil: it sent none).
func inventoryRows(f *wire.Facts) []invRow {
	if f == nil {
		return nil
	}
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, ", ")
	}
	or := func(s, dflt string) string {
		if s == "" {
			return dflt
		}
		return s
	}
	rows := []invRow{
		{Label: "Operating system", Value: or(join(strings.TrimSpace(f.OS.Name+" "+f.OS.Version), prefixed("build ", f.OS.Build), prefixed("kernel ", f.OS.Kernel), f.OS.Arch), "unknown")},
		{Label: "CPU", Value: or(join(f.CPU.Model, plural(f.CPU.Cores, "core")), "unknown")},
		{Label: "Memory", Value: or(gibOrEmpty(f.MemoryBytes), "unknown")},
	}
	for _, d := range f.Disks {
		enc, bad := "encryption unknown", false
		if d.Encrypted != nil {
			enc, bad = "encrypted", !*d.Encrypted
			if bad {
				enc = "not encrypted"
			}
		}
		rows = append(rows, invRow{Label: "Disk " + d.Mount, Value: join(gibOrEmpty(d.SizeBytes), prefixedIf(gibOrEmpty(d.FreeBytes), " free"), enc), Bad: bad})
	}
	fw, bad := "unknown", false
	if f.Firewall.Enabled != nil {
		fw, bad = "filters incoming traffic", !*f.Firewall.Enabled
		if bad {
			fw = "no rules on incoming traffic"
		}
		fw = join(f.Firewall.Name, fw)
	}
	rows = append(rows, invRow{Label: "Firewall", Value: fw, Bad: bad})
	cloud := "unknown"
	switch f.Cloud.Provider {
	case "":
	case "none":
		cloud = "on premises (no cloud)"
	default:
		cloud = join(f.Cloud.Provider, f.Cloud.Region, f.Cloud.Zone, f.Cloud.InstanceType, prefixed("instance ", f.Cloud.InstanceID))
	}
	rows = append(rows, invRow{Label: "Cloud", Value: cloud},
		invRow{Label: "Machine", Value: or(join(prefixed("UUID ", f.MachineUUID), prefixed("serial ", f.Serial)), "unknown")})
	if f.Agent != "" {
		rows = append(rows, invRow{Label: "Agent", Value: f.Agent})
	}
	return rows
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func prefixedIf(s, suffix string) string {
	if s == "" {
		return ""
	}
	return s + suffix
}

func plural(n int, what string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func gibOrEmpty(b uint64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
