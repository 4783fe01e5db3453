package wire

import (
	"slices"
	"strconv"
	"strings"
)

// Facts are what an agent knows of its machine for the inventory (and,
// later, posture conditions): sent inside a health report only when they
// changed, kept by the server as the machine's latest (Machine.Facts), not
// in the report history. Collected: the host name, the OS (name, version,
// build, kernel, architecture), the CPU model and core count, memory,
// each disk's mount, size, free space and whether it is encrypted, the
// host firewall's state, the machine's UUID and serial (SMBIOS), the
// cloud it runs in (provider, region, zone, instance type and ID), and
// the agent's version. Nothing else: no users, processes or files.
type Facts struct {
	Hostname    string        `json:"hostname,omitempty"`
	OS          OSFacts       `json:"os"`
	CPU         CPUFacts      `json:"cpu"`
	MemoryBytes uint64        `json:"memory_bytes,omitempty"`
	Disks       []DiskFacts   `json:"disks,omitempty"`
	Firewall    FirewallFacts `json:"firewall"`
	MachineUUID string        `json:"machine_uuid,omitempty"`
	Serial      string        `json:"serial,omitempty"`
	Cloud       CloudFacts    `json:"cloud"`
	Agent       string        `json:"agent_version,omitempty"`
}

// OSFacts name the operating system.
type OSFacts struct {
	Name    string `json:"name,omitempty"`    // "debian", "windows", "darwin"
	Version string `json:"version,omitempty"` // "12.7", "10.0.22631", "14.5"
	Build   string `json:"build,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Arch    string `json:"arch,omitempty"`
}

// CPUFacts describe the processor.
type CPUFacts struct {
	Model string `json:"model,omitempty"`
	Cores int    `json:"cores,omitempty"` // logical
}

// DiskFacts describe one mounted file system. Encrypted is nil when the
// agent cannot tell on this OS.
type DiskFacts struct {
	Mount     string `json:"mount"`
	SizeBytes uint64 `json:"size_bytes"`
	FreeBytes uint64 `json:"free_bytes"`
	Encrypted *bool  `json:"encrypted,omitempty"`
}

// FirewallFacts say whether a host firewall filters incoming traffic
// (nil: cannot tell) and which one.
type FirewallFacts struct {
	Enabled *bool  `json:"enabled,omitempty"`
	Name    string `json:"name,omitempty"`
}

// CloudFacts say where the machine runs. Provider is "none" for a machine
// outside any cloud the agent knows (on premises).
type CloudFacts struct {
	Provider     string `json:"provider,omitempty"` // aws, gcp, azure, hetzner, digitalocean, none
	Region       string `json:"region,omitempty"`
	Zone         string `json:"zone,omitempty"`
	InstanceType string `json:"instance_type,omitempty"`
	InstanceID   string `json:"instance_id,omitempty"`
}

// Bounds of a facts report.
const (
	MaxDisks    = 16
	MaxCPUCores = 1 << 16
)

// Validate checks every field: bounded, printable text; figures within
// what a machine has.
func (f Facts) Validate() error {
	for _, s := range []struct{ name, val string }{
		{"facts.hostname", f.Hostname}, {"facts.os.name", f.OS.Name}, {"facts.os.version", f.OS.Version},
		{"facts.os.build", f.OS.Build}, {"facts.os.kernel", f.OS.Kernel}, {"facts.os.arch", f.OS.Arch},
		{"facts.cpu.model", f.CPU.Model}, {"facts.firewall.name", f.Firewall.Name},
		{"facts.machine_uuid", f.MachineUUID}, {"facts.serial", f.Serial}, {"facts.cloud.provider", f.Cloud.Provider},
		{"facts.cloud.region", f.Cloud.Region}, {"facts.cloud.zone", f.Cloud.Zone}, {"facts.cloud.instance_type", f.Cloud.InstanceType},
		{"facts.cloud.instance_id", f.Cloud.InstanceID}, {"facts.agent_version", f.Agent},
	} {
		if err := ValidateFact(s.name, s.val, MaxFactLen, false); err != nil {
			return err
		}
	}
	if f.CPU.Cores < 0 || f.CPU.Cores > MaxCPUCores || f.MemoryBytes > maxBytes {
		return Errorf(CodeInvalidArgument, "facts: cpu cores or memory out of range")
	}
	if len(f.Disks) > MaxDisks {
		return Errorf(CodeInvalidArgument, "facts.disks: at most %d", MaxDisks)
	}
	for _, d := range f.Disks {
		if err := ValidateFact("facts.disks.mount", d.Mount, MaxFactLen, true); err != nil {
			return err
		}
		if d.SizeBytes > maxBytes || d.FreeBytes > d.SizeBytes {
			return Errorf(CodeInvalidArgument, "facts.disks: size or free space out of range on %s", d.Mount)
		}
	}
	return nil
}

// FactKeys are the facts machines can be filtered by (and, later, that
// postures can test), in the order an inventory export lists them.
var FactKeys = []string{"hostname", "os.name", "os.version", "os.kernel", "os.arch", "cpu.model", "cpu.cores", "memory.bytes",
	"disk.encrypted", "firewall.enabled", "machine.uuid", "machine.serial",
	"cloud.provider", "cloud.region", "cloud.zone", "cloud.instance_type", "cloud.instance_id", "agent.version"}

// Value returns fact key of f as text ("" and false when the machine did
// not tell it). disk.encrypted is true when every disk whose state is
// known is encrypted, false when one is not.
func (f *Facts) Value(key string) (string, bool) {
	if f == nil {
		return "", false
	}
	str := func(s string) (string, bool) { return s, s != "" }
	yesNo := func(b *bool) (string, bool) {
		if b == nil {
			return "", false
		}
		return strconv.FormatBool(*b), true
	}
	switch key {
	case "hostname":
		return str(f.Hostname)
	case "os.name":
		return str(f.OS.Name)
	case "os.version":
		return str(f.OS.Version)
	case "os.kernel":
		return str(f.OS.Kernel)
	case "os.arch":
		return str(f.OS.Arch)
	case "cpu.model":
		return str(f.CPU.Model)
	case "cpu.cores":
		return strconv.Itoa(f.CPU.Cores), f.CPU.Cores > 0
	case "memory.bytes":
		return strconv.FormatUint(f.MemoryBytes, 10), f.MemoryBytes > 0
	case "disk.encrypted":
		known, all := false, true
		for _, d := range f.Disks {
			if d.Encrypted != nil {
				known, all = true, all && *d.Encrypted
			}
		}
		return strconv.FormatBool(all), known
	case "firewall.enabled":
		return yesNo(f.Firewall.Enabled)
	case "machine.uuid":
		return str(f.MachineUUID)
	case "machine.serial":
		return str(f.Serial)
	case "cloud.provider":
		return str(f.Cloud.Provider)
	case "cloud.region":
		return str(f.Cloud.Region)
	case "cloud.zone":
		return str(f.Cloud.Zone)
	case "cloud.instance_type":
		return str(f.Cloud.InstanceType)
	case "cloud.instance_id":
		return str(f.Cloud.InstanceID)
	case "agent.version":
		return str(f.Agent)
	}
	return "", false
}

// ParseFactFilter parses "KEY=VALUE" (a machines list filter).
func ParseFactFilter(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok || !slices.Contains(FactKeys, key) {
		return "", "", Errorf(CodeInvalidArgument, "fact filter %q: want KEY=VALUE with KEY one of %s", s, strings.Join(FactKeys, ", "))
	}
	return key, value, nil
}

// placeholderIDs are what firmware writes where a serial or UUID belongs
// when the vendor filled in none: shared by many machines, they identify
// nobody (compared without case).
var placeholderIDs = []string{"0", "none", "n/a", "na", "not specified", "not applicable", "not available",
	"to be filled by o.e.m.", "default string", "system serial number", "chassis serial number", "0123456789",
	"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "03000200-0400-0500-0006-000700080009"}

// PlaceholderID reports whether a serial or machine UUID is a firmware
// placeholder rather than the machine's own.
func PlaceholderID(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return s == "" || slices.Contains(placeholderIDs, s)
}
