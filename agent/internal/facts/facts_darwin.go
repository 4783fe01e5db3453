package facts

import (
	"context"
	"os/exec"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// collectOS reads what gopsutil does not tell on macOS. FileVault and the
// Application Firewall have no file or library interface a Go program can
// use, so their own tools are asked (as root, which the agent is); the
// serial comes from the I/O registry. Cloud: none is detected on macOS.
func collectOS(ctx context.Context, src Sources, f *wire.Facts) {
	if !src.Live {
		return
	}
	run := src.Run
	if run == nil {
		run = runCommand
	}
	f.Disks = gopsutilDisks(ctx)
	if out, err := run(ctx, "/usr/bin/fdesetup", "status"); err == nil {
		if on := fileVault(string(out)); on != nil {
			// FileVault protects the data volume, which holds every user
			// file; the system volume is sealed and read-only.
			for i := range f.Disks {
				if f.Disks[i].Mount == "/" || f.Disks[i].Mount == "/System/Volumes/Data" {
					e := *on
					f.Disks[i].Encrypted = &e
				}
			}
		}
	}
	if out, err := run(ctx, "/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate"); err == nil {
		f.Firewall = macFirewall(string(out))
	}
	if out, err := run(ctx, "/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"); err == nil {
		f.Serial, f.MachineUUID = ioregPlatform(string(out))
	}
}

// runCommand runs a tool of the OS, 5 s at most.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).Output()
}
