package tunnel

import (
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
)

// filterTUN puts the access policy's packet filter between wireguard-go
// and the TUN device: what this machine sends records its flows (Read),
// what peers send is let through only as the filter allows (Write).
type filterTUN struct {
	tun.Device
	f *filter.Filter
}

func (t *filterTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := t.Device.Read(bufs, sizes, offset)
	t.f.Outbounds(bufs, sizes, offset, n)
	return n, err
}

// Write drops what the filter refuses. bufs is compacted in place:
// wireguard-go resets it after every call.
func (t *filterTUN) Write(bufs [][]byte, offset int) (int, error) {
	n := len(bufs)
	kept := t.f.Inbounds(bufs, offset)
	if len(kept) == 0 {
		return n, nil
	}
	if _, err := t.Device.Write(kept, offset); err != nil {
		return 0, err
	}
	return n, nil
}
