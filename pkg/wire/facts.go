package wire

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
