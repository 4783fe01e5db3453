package engine

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/flowlog"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// logFlows runs the flow logger: it follows the policy's "flowLogs" in
// this machine's Self, and reads the tunnel's packet filter (the
// userspace device; with the kernel backend there is none, and nothing
// is logged).
func (e *Engine) logFlows(ctx context.Context, cl *client.Client) {
	l := &flowlog.Logger{
		Source: &engineFlows{e: e},
		Sender: cl,
		Path:   e.Paths.FlowQueue(),
		Log:    e.Log,
		Config: func() *wire.FlowLogs {
			if self := e.view.Self(); self != nil && e.filter() != nil {
				return self.FlowLogs
			}
			return nil
		},
		Names: e.flowNames,
		Paths: e.peerPaths,
	}
	l.Run(ctx)
}

// filter returns the tunnel's packet filter, nil without one.
func (e *Engine) filter() *filter.Filter {
	e.mu.Lock()
	tun := e.link.tun
	e.mu.Unlock()
	if ft, ok := tun.(filtering); ok {
		return ft.Filter()
	}
	return nil
}

// engineFlows is the filter of whichever tunnel is up, or of the last
// one: at shutdown the tunnel may close before the logger collects the
// interval in progress, whose counts its filter still holds.
type engineFlows struct {
	e    *Engine
	last atomic.Pointer[filter.Filter]
	on   atomic.Bool
}

func (f *engineFlows) current() *filter.Filter {
	if pf := f.e.filter(); pf != nil {
		if f.last.Swap(pf) != pf {
			pf.SetAccounting(f.on.Load()) // a new tunnel: counting as asked
		}
		return pf
	}
	return f.last.Load()
}

func (f *engineFlows) Collect(max int) ([]filter.FlowStat, []filter.Denial, uint64) {
	if pf := f.current(); pf != nil {
		return pf.Collect(max)
	}
	return nil, nil, 0
}

func (f *engineFlows) SetAccounting(on bool) {
	f.on.Store(on)
	if pf := f.current(); pf != nil {
		pf.SetAccounting(on)
	}
}

// flowNames maps overlay addresses to machines and machines to the path
// their packets take now.
func (e *Engine) flowNames() flowlog.Names {
	n := flowlog.Names{Self: map[netip.Addr]string{}, Peers: map[netip.Addr]string{}}
	e.view.Read(func(v *wire.View) {
		if v.Self != nil {
			for _, s := range []string{v.Self.IPv4, v.Self.IPv6} {
				if a, err := netip.ParseAddr(s); err == nil {
					n.Self[a] = v.Self.ID
				}
			}
			for _, s := range v.Self.Serves {
				if p, err := netip.ParsePrefix(s); err == nil {
					n.Serves = append(n.Serves, p)
				}
			}
		}
		for id, p := range v.Peers {
			for _, s := range []string{p.IPv4, p.IPv6} {
				if a, err := netip.ParseAddr(s); err == nil {
					n.Peers[a] = id
				}
			}
		}
	})
	n.Paths = e.peerPaths()
	return n
}

// peerPaths returns how packets reach each peer now (by ID).
func (e *Engine) peerPaths() map[string]string {
	out := map[string]string{}
	e.mu.Lock()
	tun := e.link.tun
	e.mu.Unlock()
	if tun != nil {
		if ps, err := tun.Peers(); err == nil {
			for _, p := range ps {
				out[p.ID] = p.Path
			}
		}
	}
	return out
}
