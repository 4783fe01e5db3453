//go:build !linux

package tunnel

import (
	"errors"
	"log/slog"
)

// kernelBuilt: only Linux builds have the kernel WireGuard path.
const kernelBuilt = false

func upKernel(Config, *slog.Logger) (*Tunnel, error) {
	return nil, errors.New("tunnel: kernel WireGuard is available only on Linux")
}
