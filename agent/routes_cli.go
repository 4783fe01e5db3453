package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// routingFlags are the flags about subnet routes and exit nodes: global,
// so that `run` (and the service it installs) and `set` share them.
type routingFlags struct {
	advertise []string
	exitNode  bool
	snat      bool
	accept    bool
	useExit   string
	allowLAN  bool
	checks    []string
}

func (r *routingFlags) register(pf *pflag.FlagSet) {
	pf.StringSliceVar(&r.advertise, "advertise-routes", nil, "offer these subnets beside this machine to the fleet, e.g. 10.20.0.0/16,fd00:20::/64 (routed once an admin or the policy approves them; empty: none)")
	pf.BoolVar(&r.exitNode, "advertise-exit-node", false, "offer this machine as an exit node: the fleet's way out to the internet (once approved)")
	pf.BoolVar(&r.snat, "snat-routes", true, "forwarded traffic leaves with this machine's LAN address (false: keep the client's overlay address; the site must route the overlay back here)")
	pf.BoolVar(&r.accept, "accept-routes", false, "install the fleet's routes even where this machine already routes the same prefix (its own LAN)")
	pf.StringVar(&r.useExit, "exit-node", "", "send internet traffic through this machine of the fleet (name, ID or overlay address; \"\" for none)")
	pf.BoolVar(&r.allowLAN, "exit-node-allow-lan", false, "while using an exit node, keep this machine's local networks local")
	pf.StringArrayVar(&r.checks, "route-check", nil, "as a router, check the networks it carries with a TCP connection (TCP:10.20.0.5:443; repeatable; \"\" for none): while it fails, clients use another router of the same prefix")
}

var routingFlagNames = []string{"advertise-routes", "advertise-exit-node", "snat-routes", "accept-routes", "exit-node", "exit-node-allow-lan", "route-check"}

// merge applies the flags given on this command line to the kept choices.
func (r *routingFlags) merge(fs *pflag.FlagSet, kept *state.Routing) (state.Routing, bool, error) {
	out := state.Routing{}
	if kept != nil {
		out = *kept
	}
	changed := false
	for _, n := range routingFlagNames {
		if fs == nil || !fs.Changed(n) {
			continue
		}
		changed = true
		switch n {
		case "advertise-routes":
			adv, err := wire.ValidateRoutes(wire.RoutesAdvert{Routes: r.advertise})
			if err != nil {
				return out, false, fmt.Errorf("--advertise-routes: %w", err)
			}
			out.Advertise = adv
		case "advertise-exit-node":
			out.ExitNode = r.exitNode
		case "snat-routes":
			out.NoSNAT = !r.snat
		case "accept-routes":
			out.Accept = r.accept
		case "exit-node":
			out.UseExitNode = r.useExit
		case "exit-node-allow-lan":
			out.AllowLAN = r.allowLAN
		case "route-check":
			out.Checks = nil
			for _, s := range r.checks {
				if s == "" {
					continue
				}
				c, err := routes.ParseCheck(s)
				if err != nil {
					return out, false, fmt.Errorf("--route-check: %w", err)
				}
				out.Checks = append(out.Checks, c.String())
			}
		}
	}
	return out, changed, nil
}

// engineRouting turns the kept choices into the engine's.
func engineRouting(r *state.Routing) engine.Routing {
	if r == nil {
		return engine.Routing{}
	}
	out := engine.Routing{ExitNode: r.ExitNode, NoSNAT: r.NoSNAT,
		Use: routes.Options{Accept: r.Accept, ExitNode: r.UseExitNode, AllowLAN: r.AllowLAN}}
	for _, s := range r.Advertise {
		if p, err := netip.ParsePrefix(s); err == nil {
			out.Advertise = append(out.Advertise, p)
		}
	}
	for _, s := range r.Checks {
		if c, err := routes.ParseCheck(s); err == nil {
			out.Checks = append(out.Checks, c)
		}
	}
	return out
}

// applyRoutingFlags keeps the routing flags given to `run` in the config
// and returns the choices in force. A router needs the userspace device:
// its packet filter is what enforces the policy on forwarded traffic.
func applyRoutingFlags(g *globals, p string) (engine.Routing, error) {
	cfg, err := state.LoadConfig(p)
	if err != nil {
		return engine.Routing{}, err
	}
	r, changed, err := g.routing.merge(g.flags, cfg.Routing)
	if err != nil {
		return engine.Routing{}, err
	}
	if (len(r.Advertise) > 0 || r.ExitNode) && g.wireguard == tunnel.ModeKernel {
		return engine.Routing{}, errors.New("--advertise-routes and --advertise-exit-node need the userspace device (--wireguard auto or userspace): its packet filter enforces the policy on what this machine forwards; the kernel device cannot")
	}
	if changed {
		cfg.Routing = &r
		if err := state.SaveConfig(p, cfg); err != nil {
			return engine.Routing{}, err
		}
	}
	return engineRouting(&r), nil
}

// Reroute reads the routing choices again (`wirefleet-agent set`).
func (c controlAgent) Reroute() error {
	cfg, err := state.LoadConfig(c.Engine.Paths.ConfigFile())
	if err != nil {
		return err
	}
	c.Engine.SetRouting(engineRouting(cfg.Routing))
	return nil
}

func setCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set [--advertise-routes …] [--advertise-exit-node] [--exit-node NAME] […]",
		Short: "Change what this machine offers the fleet (routes, exit node) and how it uses others' routes; kept across restarts",
		Example: `  wirefleet-agent set --advertise-routes 10.20.0.0/16
  wirefleet-agent set --advertise-routes ""          # stop offering routes
  wirefleet-agent set --exit-node exit-1 --exit-node-allow-lan
  wirefleet-agent set --exit-node ""                 # stop using one`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := g.paths()
			cfg, err := state.LoadConfig(p.ConfigFile())
			if err != nil {
				return err
			}
			r, changed, err := g.routing.merge(g.flags, cfg.Routing)
			if err != nil {
				return err
			}
			if !changed {
				return errors.New("nothing to set: give one of --advertise-routes, --advertise-exit-node, --snat-routes, --accept-routes, --exit-node, --exit-node-allow-lan, --route-check")
			}
			cfg.Routing = &r
			if err := state.SaveConfig(p.ConfigFile(), cfg); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = control.Call(ctx, p.ControlSocket(), "reroute")
			if errors.Is(err, control.ErrNotRunning) {
				fmt.Fprintln(cmd.OutOrStdout(), "saved; the agent is not running: it applies this when it starts")
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "saved and applied; `wirefleet-agent status` shows the routes (advertised ones wait for an admin's approval)")
			return nil
		},
	}
}
