//go:build !linux && !windows && !darwin

package facts

import (
	"context"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// collectOS leaves to gopsutil (in Collect) what it can tell on this OS;
// disks, their encryption, the firewall and the cloud stay unknown.
func collectOS(context.Context, Sources, *wire.Facts) {}
