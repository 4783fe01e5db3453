package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// routesCmd is `wirefleet-server routes …`.
func routesCmd() *cobra.Command {
	c := &conn{}
	list := &cobra.Command{
		Use: "list", Short: "List advertised subnet routes and exit nodes, with their state", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				out, err := cl.Routes(ctx)
				if err != nil {
					return err
				}
				return printRoutes(c, cmd.OutOrStdout(), out)
			})
		},
	}
	return group("routes", "Subnet routes and exit nodes: list what machines advertise, approve or reject it", c,
		list, routesDecideCmd(c, true), routesDecideCmd(c, false))
}

func printRoutes(c *conn, w io.Writer, out wire.RoutesResponse) error {
	return c.print(w, out, func(tw *tabwriter.Writer) {
		if len(out.Routes) == 0 {
			fmt.Fprintln(tw, "no machine advertises routes (wirefleet-agent run --advertise-routes 10.20.0.0/16, or --advertise-exit-node)")
			return
		}
		fmt.Fprintln(tw, "PREFIX\tMACHINE\tSTATE\tROLE\tONLINE\tNOTE")
		for _, r := range out.Routes {
			role := "-"
			switch {
			case r.Primary:
				role = "primary"
			case r.State == wire.RouteApproved || r.State == wire.RouteAutoApproved:
				role = "standby"
			}
			note := ""
			if r.ExitNode {
				note = "exit node"
			}
			if r.Unreachable {
				note += " no policy rule grants it: nobody can use it"
			}
			if r.Failing != "" {
				note += " check failing: " + r.Failing
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", r.Prefix, r.MachineName, r.State, role, r.Online, note)
		}
	})
}

func routesDecideCmd(c *conn, approve bool) *cobra.Command {
	var exit bool
	verb, short := "approve", "Approve a machine's routes (the ones named; all it advertises when none are)"
	if !approve {
		verb, short = "reject", "Reject a machine's routes (the ones named; all it advertises when none are): nothing is routed to them"
	}
	cmd := &cobra.Command{
		Use: verb + " MACHINE [PREFIX…]", Short: short, Args: cobra.MinimumNArgs(1),
		Example: fmt.Sprintf(`  wirefleet-server routes %[1]s office-gw 10.20.0.0/16
  wirefleet-server routes %[1]s exit-1 --exit-node`, verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				m, err := cl.DecideRoutes(ctx, args[0], wire.RouteDecision{Routes: args[1:], ExitNode: exit}, approve)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), m, func(tw *tabwriter.Writer) {
					mr := wire.MachineRoutes{}
					if m.Routes != nil {
						mr = *m.Routes
					}
					fmt.Fprintf(tw, "%s: approved %v, rejected %v (advertised %v); clients follow at their next map\n", m.Name, mr.Approved, mr.Rejected, mr.Advertised)
				})
			})
		},
	}
	cmd.Flags().BoolVar(&exit, "exit-node", false, "the machine's exit node (its default routes)")
	return cmd
}
