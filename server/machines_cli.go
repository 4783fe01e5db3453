package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func printMachines(c *conn, w io.Writer, ms []wire.Machine) error {
	return c.print(w, ms, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tONLINE\tIPV4\tIPV6\tOS\tAGENT\tTAGS\tLAST SEEN")
		for _, m := range ms {
			agent := m.AgentVersion
			if m.PinnedVersion != "" {
				agent += " (pinned " + m.PinnedVersion + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", m.ID, m.Name, m.State, m.Online, m.IPv4, m.IPv6,
				m.OS, m.Arch, agent, strings.Join(m.Tags, ","), when(m.LastSeen))
		}
		if len(ms) == 1 { // machines show: the key and the expiry
			m := ms[0]
			key := "registered " + when(m.KeyCreatedAt)
			if m.RotateKeyBefore != nil {
				key += "; rotation asked " + when(m.RotateKeyBefore) + ", waiting for the agent"
			}
			exp := "never"
			switch {
			case m.ExpiryDisabled:
				exp = "never (turned off by an admin)"
			case m.ExpiresAt != nil:
				exp = when(m.ExpiresAt)
			}
			fmt.Fprintf(tw, "\nwireguard key:\t%s\t%s\nexpires:\t%s\n", m.PublicKey, key, exp)
			if m.Owner != "" {
				fmt.Fprintf(tw, "owner:\t%s\n", m.Owner)
			}
			if len(m.OwnerGroups) > 0 {
				fmt.Fprintf(tw, "owner's groups:\t%s\n", strings.Join(m.OwnerGroups, ", "))
			}
		}
		if len(ms) == 1 && len(ms[0].Updates) > 0 { // machines show
			fmt.Fprintln(tw, "\nSELF-UPDATES\tFROM\tTO\tOUTCOME\tREASON")
			for _, u := range ms[0].Updates {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.At.Local().Format(time.DateTime), u.From, u.To, outcome(u.State), u.Reason)
			}
		}
	})
}

// outcome names a self-update attempt's state for people.
func outcome(state string) string {
	switch state {
	case "ok":
		return "installed"
	case "rolled_back":
		return "FAILED, rolled back"
	case "failed":
		return "REFUSED before install"
	}
	return state
}

// machinesCmd is `wirefleet-server machines …`.
func machinesCmd() *cobra.Command {
	c := &conn{}
	update := func(field func(a []string) wire.UpdateMachineRequest) func(context.Context, *client.Client, []string) (wire.Machine, error) {
		return func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
			return cl.UpdateMachine(ctx, a[0], field(a))
		}
	}
	return group("machines", "List, show, rename, tag, pin, own, revoke and delete machines; rotate their keys; show health", c,
		machinesListCmd(c),
		machineCmd(c, "show ID|NAME", "Show one machine", 1, func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
			return cl.Machine(ctx, a[0])
		}),
		machineCmd(c, "rename ID|NAME NEW-NAME", "Rename a machine", 2, update(func(a []string) wire.UpdateMachineRequest {
			return wire.UpdateMachineRequest{Name: &a[1]}
		})),
		machinesTagCmd(c),
		machineCmd(c, "pin ID|NAME VERSION", "Pin a machine's agent to a published version (older ones included; overrides rollout and pause)", 2,
			update(func(a []string) wire.UpdateMachineRequest { return wire.UpdateMachineRequest{PinnedVersion: &a[1]} })),
		machineCmd(c, "unpin ID|NAME", "Let a pinned machine follow its channel again", 1, update(func(a []string) wire.UpdateMachineRequest {
			none := ""
			return wire.UpdateMachineRequest{PinnedVersion: &none}
		})),
		machineCmd(c, "revoke ID|NAME", "Revoke a machine: its credential stops working at once", 1, func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
			return cl.RevokeMachine(ctx, a[0])
		}),
		machineCmd(c, "delete ID|NAME", "Delete a machine", 1, func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
			return cl.DeleteMachine(ctx, a[0])
		}),
		machinesRotateKeyCmd(c),
		machineCmd(c, "expiry ID|NAME off|DURATION", "Turn a machine's expiry off, or set it to a duration from now (an expired machine comes back)", 2,
			update(func(a []string) wire.UpdateMachineRequest { return wire.UpdateMachineRequest{Expiry: &a[1]} })),
		machineCmd(c, "owner ID|NAME PERSON|none", "Name the person whose machine it is (their directory groups apply to it under the policy)", 2,
			update(func(a []string) wire.UpdateMachineRequest {
				owner := a[1]
				if owner == "none" {
					owner = ""
				}
				return wire.UpdateMachineRequest{Owner: &owner}
			})),
		machinesHealthCmd(c),
	)
}

// machineCmd is a command that acts on one machine and prints it.
func machineCmd(c *conn, use, short string, nargs int, fn func(context.Context, *client.Client, []string) (wire.Machine, error)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				m, err := fn(ctx, cl, args)
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
			})
		},
	}
}

func machinesListCmd(c *conn) *cobra.Command {
	var f client.MachineFilter
	var csv bool
	list := &cobra.Command{
		Use: "list", Short: "List machines", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if csv {
					b, err := cl.InventoryCSV(ctx, f)
					if err != nil {
						return err
					}
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
				ms, err := cl.ListMachines(ctx, f)
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), ms)
			})
		},
	}
	list.Flags().StringVar(&f.State, "state", "", "active, revoked, online or offline")
	list.Flags().StringVar(&f.Tag, "tag", "", "only machines with this tag")
	list.Flags().StringVar(&f.Name, "name", "", "only machines whose name or hostname contains this")
	list.Flags().StringArrayVar(&f.Facts, "fact", nil, "only machines whose inventory fact KEY is VALUE: KEY=VALUE, repeatable (keys: "+strings.Join(wire.FactKeys, ", ")+")")
	list.Flags().BoolVar(&csv, "csv", false, "print the inventory as CSV (name, addresses, state, every fact)")
	return list
}

func machinesTagCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "tag ID|NAME [TAG…]", Short: "Replace a machine's tags (none clears them)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				tags := append([]string{}, args[1:]...)
				m, err := cl.UpdateMachine(ctx, args[0], wire.UpdateMachineRequest{Tags: &tags})
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
			})
		},
	}
}

func machinesRotateKeyCmd(c *conn) *cobra.Command {
	var all bool
	rotate := &cobra.Command{
		Use:   "rotate-key ID|NAME | rotate-key --all",
		Short: "Ask a machine's agent (or every active machine's) to replace its WireGuard key now; peers follow through their maps",
		Args: func(cmd *cobra.Command, args []string) error {
			if all != (len(args) == 0) || len(args) > 1 {
				return errors.New("give one machine, or --all and no machine")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if all {
					r, err := cl.RotateAllKeys(ctx)
					if err != nil {
						return err
					}
					return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
						fmt.Fprintf(tw, "asked %d machines to rotate their WireGuard keys; each does at its next map (offline ones when they return)\n", r.Machines)
					})
				}
				m, err := cl.RotateKey(ctx, args[0])
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
			})
		},
	}
	rotate.Flags().BoolVar(&all, "all", false, "every active machine (after a suspected compromise)")
	return rotate
}

func machinesHealthCmd(c *conn) *cobra.Command {
	var limit int
	health := &cobra.Command{
		Use: "health ID|NAME", Short: "Show a machine's latest health report and history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				h, err := cl.Health(ctx, args[0], limit)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), h, func(tw *tabwriter.Writer) { printHealth(tw, h) })
			})
		},
	}
	health.Flags().IntVar(&limit, "limit", 60, "history entries to fetch (0–120)")
	return health
}

// printHealth renders a machine's latest health report and the size of
// its history.
func printHealth(tw *tabwriter.Writer, h wire.MachineHealth) {
	fmt.Fprintf(tw, "machine:\t%s (online: %v)\n", h.MachineID, h.Online)
	if h.Latest == nil {
		fmt.Fprintln(tw, "no health report yet")
		return
	}
	r := h.Latest
	fmt.Fprintf(tw, "reported:\t%s (agent %s, %s, kernel %s, up %s)\n", when(h.ReceivedAt), r.AgentVersion, r.Platform, r.Kernel, time.Duration(r.UptimeSec)*time.Second)
	fmt.Fprintf(tw, "cpu:\t%.1f%%\nmemory:\t%d / %d MiB\ndisk:\t%d / %d GiB\n", r.CPUPercent, r.MemUsed>>20, r.MemTotal>>20, r.DiskUsed>>30, r.DiskTotal>>30)
	fmt.Fprintf(tw, "tunnel:\tup=%v %s, %d/%d peers with a recent handshake\n", r.Tunnel.Up, r.Tunnel.Interface, r.Tunnel.Connected, r.Tunnel.PeerCount)
	if r.Tunnel.Error != "" {
		fmt.Fprintf(tw, "tunnel error:\t%s\n", r.Tunnel.Error)
	}
	for _, p := range r.Tunnel.Peers {
		fmt.Fprintf(tw, "  peer %s\t%s\thandshake %s\trx %d\ttx %d\n", p.Name, p.Endpoint, when(p.LastHandshake), p.RxBytes, p.TxBytes)
	}
	if r.Dropped > 0 {
		fmt.Fprintf(tw, "dropped:\t%d reports while offline\n", r.Dropped)
	}
	fmt.Fprintf(tw, "history:\t%d reports\n", len(h.History))
}
