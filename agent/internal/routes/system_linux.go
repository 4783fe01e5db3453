package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NewSystem returns the OS's routes: netlink for routes, sysctl for
// forwarding, nftables (through its netlink API, not the nft binary) for
// the router's forward and source-NAT rules.
func NewSystem() System { return linuxSystem{} }

type linuxSystem struct{}

// rtProto marks the routes the agent adds (`ip route` shows "proto 87"),
// so an admin can tell them apart.
const rtProto = 87

// tableName is the nftables table a router adds (family inet).
const tableName = "wirefleet"

// markSNAT marks forwarded packets from the tunnel for masquerade: the
// postrouting hook cannot see the input interface, so the forward hook
// marks them.
const markSNAT = 0x00570000

func route(iface string, p netip.Prefix) (*netlink.Route, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", iface, err)
	}
	return &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipnet(p), Protocol: rtProto, Scope: netlink.SCOPE_LINK}, nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func (linuxSystem) AddRoute(iface string, p netip.Prefix) error {
	r, err := route(iface, p)
	if err != nil {
		return err
	}
	return netlink.RouteReplace(r)
}

func (linuxSystem) DelRoute(iface string, p netip.Prefix) error {
	r, err := route(iface, p)
	if err != nil {
		return nil // the interface is gone, and its routes with it
	}
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

func (linuxSystem) Existing(iface string, p netip.Prefix) bool {
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	rs, err := netlink.RouteListFiltered(family, &netlink.Route{Dst: ipnet(p), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return false
	}
	own := -1
	if link, err := netlink.LinkByName(iface); err == nil {
		own = link.Attrs().Index
	}
	for _, r := range rs {
		if r.LinkIndex != own && r.Protocol != rtProto {
			return true
		}
	}
	return false
}

var forwardSysctls = [2]string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"}

func (s linuxSystem) Forward(iface string, snat bool) (Undo, error) {
	var u Undo
	for i, f := range forwardSysctls {
		b, err := os.ReadFile(f)
		if err != nil {
			if i == 1 {
				continue // no IPv6 on this host
			}
			return u, fmt.Errorf("read %s: %w", f, err)
		}
		prev := strings.TrimSpace(string(b))
		if prev != "1" {
			if err := os.WriteFile(f, []byte("1\n"), 0o644); err != nil {
				return u, fmt.Errorf("turn on IP forwarding (%s): %w", f, err)
			}
		}
		if i == 0 {
			u.IPv4Forward = prev
		} else {
			u.IPv6Forward = prev
		}
	}
	if err := s.rules(iface, snat); err != nil {
		_ = s.Unforward(u)
		return u, err
	}
	u.Table = tableName
	return u, nil
}

// rules adds the table: forward what comes from the tunnel (the agent's
// filter has applied the policy already) and its replies; masquerade it
// when snat. A table left by a crashed agent is replaced.
func (linuxSystem) rules(iface string, snat bool) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: tableName}
	c.DelTable(t)
	_ = c.Flush() // there was none: fine
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	from := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iface)},
	}
	if snat {
		from = append(from,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(^uint32(markSNAT)), Xor: binaryutil.NativeEndian.PutUint32(markSNAT)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: append(from, &expr.Verdict{Kind: expr.VerdictAccept})})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iface)},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	if snat {
		post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(markSNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Masq{},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add the %s table: %w", tableName, err)
	}
	return nil
}

// ifname is an interface name as nftables compares it (IFNAMSIZ bytes).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func (linuxSystem) Unforward(u Undo) error {
	var errs []error
	if u.Table != "" {
		c, err := nftables.New()
		if err == nil {
			c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: u.Table})
			if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("nftables: remove the %s table: %w", u.Table, err))
			}
		} else {
			errs = append(errs, err)
		}
	}
	for i, prev := range []string{u.IPv4Forward, u.IPv6Forward} {
		if prev != "" && prev != "1" {
			if err := os.WriteFile(forwardSysctls[i], []byte(prev+"\n"), 0o644); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Priorities of the policy-routing rules an exit node adds, as wg-quick
// lays them out: the machine's DNS servers stay on the main table, then
// (with allowLAN) the main table without its default route — the
// networks the machine is on — then everything unmarked goes to
// ExitTable, whose one route is the tunnel.
const (
	prioKeep     = 5200
	prioLAN      = 5210
	prioNotOwned = 5220
)

func (s linuxSystem) Exit(iface string, allowLAN bool, keep []netip.Addr) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("find %s: %w", iface, err)
	}
	_ = s.Unexit() // what a crashed run left
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		def := netip.MustParsePrefix("0.0.0.0/0")
		if fam == netlink.FAMILY_V6 {
			if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
				continue // no IPv6 on this host
			}
			def = netip.MustParsePrefix("::/0")
		}
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipnet(def), Table: ExitTable, Protocol: rtProto}); err != nil {
			if fam == netlink.FAMILY_V6 {
				continue // IPv6 off on the tunnel (tunnel.IPv6Off)
			}
			return fmt.Errorf("default route in table %d: %w", ExitTable, err)
		}
		for _, a := range keep {
			if a.Is4() != (fam == netlink.FAMILY_V4) {
				continue
			}
			r := netlink.NewRule()
			r.Family, r.Priority, r.Table, r.Dst = fam, prioKeep, unix.RT_TABLE_MAIN, ipnet(netip.PrefixFrom(a, a.BitLen()))
			if err := netlink.RuleAdd(r); err != nil {
				return fmt.Errorf("rule for %s: %w", a, err)
			}
		}
		if allowLAN {
			r := netlink.NewRule()
			r.Family, r.Priority, r.Table, r.SuppressPrefixlen = fam, prioLAN, unix.RT_TABLE_MAIN, 0
			if err := netlink.RuleAdd(r); err != nil {
				return fmt.Errorf("rule keeping local networks local: %w", err)
			}
		}
		mask := uint32(0xffffffff)
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table, r.Mark, r.Mask, r.Invert = fam, prioNotOwned, ExitTable, Mark, &mask, true
		if err := netlink.RuleAdd(r); err != nil {
			return fmt.Errorf("rule sending unmarked traffic to table %d: %w", ExitTable, err)
		}
	}
	return nil
}

func (linuxSystem) Unexit() error {
	var errs []error
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := netlink.RuleList(fam)
		if err != nil {
			continue
		}
		for _, r := range rules {
			if r.Priority == prioKeep || r.Priority == prioLAN || r.Priority == prioNotOwned {
				r := r
				if err := netlink.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("remove rule %s: %w", r, err))
				}
			}
		}
		routes, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: ExitTable}, netlink.RT_FILTER_TABLE)
		if err != nil {
			continue
		}
		for _, rt := range routes {
			rt := rt
			if err := netlink.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("remove route in table %d: %w", ExitTable, err))
			}
		}
	}
	return errors.Join(errs...)
}
