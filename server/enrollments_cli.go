package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func enrollmentsCmd() *cobra.Command {
	c := &conn{}
	print := func(cmd *cobra.Command, ps []wire.PendingEnrollment) error {
		return c.print(cmd.OutOrStdout(), ps, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "CODE\tSTATE\tHOSTNAME\tNAME\tOS\tFROM\tEXPIRES\tDECIDED BY")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", p.Code, p.State, p.Hostname, p.Name, p.OS, p.Arch, p.SourceIP, when(&p.ExpiresAt), p.DecidedBy)
			}
		})
	}
	list := &cobra.Command{
		Use: "list", Short: "List the machines waiting for approval (wirefleet-agent enroll without a token)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ps, err := cl.Enrollments(ctx)
				if err != nil {
					return err
				}
				return print(cmd, ps)
			})
		},
	}
	decide := func(use, short string, approve bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " CODE", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
					p, err := cl.DecideEnrollment(ctx, args[0], approve)
					if err != nil {
						return err
					}
					return print(cmd, []wire.PendingEnrollment{p})
				})
			},
		}
	}
	return group("enrollments", "Approve or deny machines that asked to join without a token", c, list,
		decide("approve", "Approve a machine: its waiting agent is enrolled at once, owned by you", true),
		decide("deny", "Deny a machine: its waiting agent stops with enrollment_denied", false))
}
