// Package facts collects what the inventory needs of this machine
// (wire.Facts) and decides when to send it: only when it changed, and
// once a day regardless. Sources are files and the OS's own interfaces
// (gopsutil, sysfs, netlink), never a shelled-out command; the root of
// the file system they read and the cloud metadata address are settings,
// so tests read fixtures and a metadata server of their own.
package facts

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Sources say where facts are read from.
type Sources struct {
	// Root is the file system root for /etc, /proc and /sys ("" = "/").
	Root string
	// MetadataURL is the cloud instance metadata service
	// (default http://169.254.169.254), asked only when SMBIOS names a
	// cloud that needs it.
	MetadataURL string
	// SMBIOSDir holds the SMBIOS identity files (sys_vendor, product_uuid,
	// …; "" = Root's sys/class/dmi/id): a container that cannot see the
	// host's /sys is given a copy or a bind mount of it.
	SMBIOSDir string
	HTTP      *http.Client
	// Run runs one of the OS's tools where it has no other interface
	// (macOS: fdesetup, socketfilterfw, ioreg); nil runs the real one.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Live reads what only the running system can tell (file systems'
	// sizes, the firewall); tests leave it off and give fixtures.
	Live bool
}

func (s Sources) root() string {
	if s.Root == "" {
		return "/"
	}
	return s.Root
}

func (s Sources) metadata() string {
	if s.MetadataURL == "" {
		return "http://169.254.169.254"
	}
	return strings.TrimRight(s.MetadataURL, "/")
}

// Collect gathers the facts of this machine. What cannot be read is left
// empty (nil for yes/no facts): a fact the agent cannot tell is not a
// failure.
func Collect(ctx context.Context, src Sources, agentVersion string) wire.Facts {
	f := wire.Facts{Agent: agentVersion, OS: wire.OSFacts{Arch: runtime.GOARCH}}
	collectOS(ctx, src, &f)
	if src.Live || src.Root == "" {
		if f.CPU.Model == "" {
			if cs, err := cpu.InfoWithContext(ctx); err == nil && len(cs) > 0 {
				f.CPU.Model = cs[0].ModelName
			}
		}
		if f.CPU.Cores == 0 {
			f.CPU.Cores = runtime.NumCPU()
		}
		if f.MemoryBytes == 0 {
			if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
				f.MemoryBytes = vm.Total
			}
		}
		if hi, err := host.InfoWithContext(ctx); err == nil {
			if f.Hostname == "" {
				f.Hostname = hi.Hostname
			}
			if f.OS.Name == "" {
				f.OS.Name, f.OS.Version = hi.Platform, hi.PlatformVersion
			}
			if f.OS.Kernel == "" {
				f.OS.Kernel = hi.KernelVersion
			}
			if f.MachineUUID == "" {
				f.MachineUUID = hi.HostID
			}
		}
	}
	if wire.PlaceholderID(f.Serial) {
		f.Serial = "" // "To Be Filled By O.E.M." identifies no machine
	}
	if wire.PlaceholderID(f.MachineUUID) {
		f.MachineUUID = ""
	}
	clip(&f)
	return f
}

// clip makes every string fact something the server accepts (bounded,
// printable): a refused report would be retried forever.
func clip(f *wire.Facts) {
	for _, p := range []*string{&f.Hostname, &f.OS.Name, &f.OS.Version, &f.OS.Build, &f.OS.Kernel, &f.OS.Arch, &f.CPU.Model,
		&f.Firewall.Name, &f.MachineUUID, &f.Serial, &f.Cloud.Provider, &f.Cloud.Region, &f.Cloud.Zone, &f.Cloud.InstanceType,
		&f.Cloud.InstanceID, &f.Agent} {
		*p = wire.ClipFact(strings.TrimSpace(*p), wire.MaxFactLen)
	}
	if len(f.Disks) > wire.MaxDisks {
		f.Disks = f.Disks[:wire.MaxDisks]
	}
	for i := range f.Disks {
		f.Disks[i].Mount = wire.ClipFact(f.Disks[i].Mount, wire.MaxFactLen)
		f.Disks[i].FreeBytes = min(f.Disks[i].FreeBytes, f.Disks[i].SizeBytes)
	}
}

// changeHash is what decides that facts changed: everything but the
// disks' free space, which moves all the time (the daily refresh and the
// health reports carry it).
func changeHash(f wire.Facts) [32]byte {
	f.Disks = append([]wire.DiskFacts(nil), f.Disks...)
	for i := range f.Disks {
		f.Disks[i].FreeBytes = 0
	}
	b, _ := json.Marshal(f)
	return sha256.Sum256(b)
}

// Tracker collects facts at most every Every and hands them out when
// they differ from the last handed out, or Refresh after it.
type Tracker struct {
	Sources Sources
	Version string
	Every   time.Duration // default 10 min
	Refresh time.Duration // default 24 h

	mu        sync.Mutex
	collected time.Time
	cur       wire.Facts
	sentHash  [32]byte
	sentAt    time.Time
}

// Due returns the facts to put in the next report (nil: nothing new).
func (t *Tracker) Due(ctx context.Context, now time.Time) *wire.Facts {
	t.mu.Lock()
	defer t.mu.Unlock()
	every, refresh := t.Every, t.Refresh
	if every <= 0 {
		every = 10 * time.Minute
	}
	if refresh <= 0 {
		refresh = 24 * time.Hour
	}
	if t.collected.IsZero() || now.Sub(t.collected) >= every {
		t.cur, t.collected = Collect(ctx, t.Sources, t.Version), now
	}
	h := changeHash(t.cur)
	if h == t.sentHash && now.Sub(t.sentAt) < refresh {
		return nil
	}
	t.sentHash, t.sentAt = h, now
	f := t.cur
	return &f
}
