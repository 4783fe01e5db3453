package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func dnsCmd() *cobra.Command {
	c := &conn{}
	list := &cobra.Command{
		Use: "list", Short: "List the fleet's DNS records (machines' own names are not listed: every machine is NAME.<domain>)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				out, err := cl.DNSRecords(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
					if out.Domain == "" {
						fmt.Fprintln(tw, "names are off on this server (--dns-domain off)")
					}
					fmt.Fprintln(tw, "NAME\tTYPE\tVALUE\tBY\tAT")
					for _, r := range out.Records {
						fmt.Fprintf(tw, "%s.%s\t%s\t%s\t%s\t%s\n", r.Name, out.Domain, r.Type, r.Value, r.CreatedBy, when(r.CreatedAt))
					}
				})
			})
		},
	}
	add := &cobra.Command{
		Use: "add NAME A|AAAA|CNAME VALUE", Short: "Add a record: NAME is relative to the fleet domain (db → db.fleet.internal)", Args: cobra.ExactArgs(3),
		Example: `  wirefleet-server dns add db A 10.0.0.5
  wirefleet-server dns add db AAAA fd00::5
  wirefleet-server dns add grafana CNAME monitor-1.fleet.internal`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.AddDNSRecord(ctx, wire.DNSRecord{Name: args[0], Type: args[1], Value: args[2]})
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "added %s %s %s; every agent answers it from its next map\n", r.Name, r.Type, r.Value)
				})
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME [TYPE]", Short: "Remove a name's records (only those of TYPE, when given)", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rtype := ""
			if len(args) == 2 {
				rtype = args[1]
			}
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				removed, err := cl.RemoveDNSRecords(ctx, args[0], rtype)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), removed, func(tw *tabwriter.Writer) {
					for _, r := range removed {
						fmt.Fprintf(tw, "removed %s %s %s\n", r.Name, r.Type, r.Value)
					}
				})
			})
		},
	}
	return group("dns", "The fleet's DNS records (A, AAAA, CNAME) next to the machines' names", c, list, add, remove)
}
