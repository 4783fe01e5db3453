//go:build !linux

package facts

import (
	"context"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// collectOS leaves to gopsutil (in Collect) what it can tell on this OS.
// Disk encryption (BitLocker, FileVault), the firewall and the cloud are
// not read here yet: they stay unknown.
func collectOS(context.Context, Sources, *wire.Facts) {}
