package daemon

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
)

// cgroupShare is the part of a cgroup's memory limit (systemd's MemoryMax,
// a container's --memory) the Go heap is held to under --memory-limit auto:
// the rest is stacks, SQLite's page cache and the kernel's buffers.
const cgroupShare = 0.9

// applyMemoryLimit sets the Go runtime's soft memory limit from
// --memory-limit: "auto" (GOMEMLIMIT when set, else 90 % of the cgroup's
// memory limit when there is one, else none), "off", or a size such as
// "1.8GiB". Near the limit the garbage collector runs more often instead
// of letting the heap grow to twice what is live; it returns the limit in
// force (0: none).
func applyMemoryLimit(spec string, log *slog.Logger) (int64, error) {
	switch s := strings.TrimSpace(strings.ToLower(spec)); s {
	case "", "auto":
		if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
			log.Info("memory limit from GOMEMLIMIT", "limit", v)
			return limitInForce(), nil
		}
		limit, err := memlimit.Set(memlimit.WithRatio(cgroupShare), memlimit.WithProvider(memlimit.FromCgroup))
		if err != nil {
			// No cgroup to read is no limit, not a reason to refuse to start.
			log.Debug("memory limit: no cgroup limit read", "err", err)
		}
		if limit > 0 && limit < math.MaxInt64 {
			log.Info("memory limit from the cgroup", "limit", humanize.IBytes(uint64(limit)), "share", cgroupShare)
		}
		return limitInForce(), nil
	case "off", "none", "0":
		debug.SetMemoryLimit(math.MaxInt64)
		return 0, nil
	default:
		n, err := humanize.ParseBytes(s)
		if err != nil {
			return 0, fmt.Errorf("--memory-limit %q: want auto, off or a size such as 1.8GiB", spec)
		}
		if n < 64<<20 {
			return 0, fmt.Errorf("--memory-limit %q: below 64 MiB the server would spend its time collecting garbage", spec)
		}
		if n > math.MaxInt64 {
			n = math.MaxInt64
		}
		debug.SetMemoryLimit(int64(n))
		return int64(n), nil
	}
}

// limitInForce reads the runtime's soft memory limit; 0 means none.
func limitInForce() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	return 0
}
