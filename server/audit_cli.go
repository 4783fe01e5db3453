package main

// `wirefleet-server audit`: the audit log.

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
)

func auditCmd() *cobra.Command {
	c := &conn{}
	var f client.AuditFilter
	cmd := &cobra.Command{
		Use: "audit", Short: "Show the audit log, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				page, err := cl.Audit(ctx, f)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), page, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tWHEN\tACTOR\tACTION\tTARGET\tFROM")
					for _, e := range page.Events {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Target, e.SourceIP)
					}
					if page.Next > 0 {
						fmt.Fprintf(tw, "(more: --before %d)\n", page.Next)
					}
				})
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().Int64Var(&f.Before, "before", 0, "show events older than this ID (paging)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "events per page (1–1000)")
	cmd.Flags().StringVar(&f.Action, "action", "", "only actions starting with this (machine., token.create)")
	cmd.Flags().StringVar(&f.Target, "target", "", "only events about this ID")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only events by this actor (admin:alice, local:cli)")
	return cmd
}
