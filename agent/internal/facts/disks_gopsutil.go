//go:build windows || darwin

package facts

import (
	"context"

	"github.com/shirou/gopsutil/v4/disk"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// gopsutilDisks lists the machine's mounted disks with their size and free
// space (encryption is the caller's to mark).
func gopsutilDisks(ctx context.Context) []wire.DiskFacts {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return nil
	}
	var out []wire.DiskFacts
	seen := map[string]bool{}
	for _, p := range parts {
		if seen[p.Mountpoint] || !keepMount(p.Mountpoint, p.Fstype) {
			continue
		}
		seen[p.Mountpoint] = true
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil || u.Total == 0 {
			continue // a drive without a medium
		}
		out = append(out, wire.DiskFacts{Mount: p.Mountpoint, SizeBytes: u.Total, FreeBytes: u.Free})
		if len(out) == wire.MaxDisks {
			break
		}
	}
	return out
}
