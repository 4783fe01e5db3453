//go:build !windows

package doctor

import (
	"fmt"
	"syscall"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// checkDescriptors compares this process's open-file limit (the server's
// unit sets the same) with what the fleet needs: a connection per agent.
func checkDescriptors(info wire.ServerInfo, infoErr error) Check {
	c := Check{Name: "descriptors"}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		c.Status, c.Detail = Warn, err.Error()
		return c
	}
	need := uint64(1024)
	if infoErr == nil {
		need += uint64(info.Machines) * 2 // a connection each, and room for reconnects
	}
	c.Detail = fmt.Sprintf("open-file limit %d (soft) / %d (hard), the fleet needs about %d", rl.Cur, rl.Max, need)
	if rl.Cur < need {
		c.Status, c.Fix = Warn, fmt.Sprintf("raise it: LimitNOFILE=%d in the systemd unit (ulimit -n for a shell)", max(need*2, 65536))
		return c
	}
	c.Status = OK
	return c
}
