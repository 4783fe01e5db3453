package tunnel

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
)

// kernelBuilt: this build can use Linux's kernel WireGuard.
const kernelBuilt = true

// upKernel creates a kernel WireGuard link and configures it through
// wgctrl (netlink). It fails when the module is missing, and auto mode
// then falls back to wireguard-go.
func upKernel(cfg Config, log *slog.Logger) (*Tunnel, error) {
	link := &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: cfg.Name, MTU: cfg.MTU}}
	if err := netlink.LinkAdd(link); err != nil {
		return nil, fmt.Errorf("tunnel: create kernel WireGuard link %s: %w", cfg.Name, err)
	}
	del := func() error { return netlink.LinkDel(link) }
	ctl, err := wgctrl.New()
	if err != nil {
		del()
		return nil, fmt.Errorf("tunnel: open wgctrl: %w", err)
	}
	t := &Tunnel{log: log, ctl: ctl, name: cfg.Name, mode: ModeKernel, closeLink: del,
		keepalive: time.Duration(cfg.Self.Keepalive) * time.Second, view: viewOf(cfg)}
	if err := t.configureKey(cfg); err != nil {
		t.Close()
		return nil, err
	}
	v6Off, err := configureInterface(cfg.Name, cfg.MTU, addrsOf(cfg.Self))
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tunnel: configure %s: %w", cfg.Name, err)
	}
	t.noteIPv6(v6Off)
	return t, nil
}
