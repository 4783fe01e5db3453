package main

// `wirefleet-server clients …`: applications that read flags from the
// server over OFREP with a client key; `flags usage`: who reads a flag.

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func clientsCmd() *cobra.Command {
	c := &conn{}
	var req wire.CreateFlagClientRequest
	printKey := func(cmd *cobra.Command, r wire.FlagClientKeyResponse) error {
		return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "client:\t%s\nkey:\t%s\n\nEvaluate with any OpenFeature OFREP provider: base URL this server's, Authorization: Bearer KEY.\n", r.Client.Name, r.Secret)
		})
	}
	create := &cobra.Command{
		Use: "create NAME [--team T] [--kind service|ci|function|backend|other] [--rate N] [--allow CIDR]…", Short: "Create a flag client and its first key (shown once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				req.Name = args[0]
				r, err := cl.CreateFlagClient(ctx, req)
				if err != nil {
					return err
				}
				return printKey(cmd, r)
			})
		},
	}
	f := create.Flags()
	f.StringVar(&req.Team, "team", "", "its team: it evaluates the fleet's flags and the team's (\"\": the fleet's only)")
	f.StringVar(&req.Kind, "kind", "service", "what it is: service, ci, function, backend or other")
	f.StringVar(&req.Description, "description", "", "what it is for")
	f.IntVar(&req.RatePerMinute, "rate", 0, "evaluation requests a minute it may make (0: the server's default, 6000)")
	f.StringSliceVar(&req.Allow, "allow", nil, "an address or CIDR it may call from (repeatable; none: any)")

	list := &cobra.Command{
		Use: "list", Short: "List flag clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				cs, err := cl.FlagClients(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), cs, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tKIND\tTEAM\tSTATE\tRATE/MIN\tALLOW\tKEYS\tLAST SEEN")
					for _, x := range cs {
						state, live := "active", 0
						if !x.Active {
							state = "inactive"
						}
						for _, k := range x.Keys {
							if k.RevokedAt == nil {
								live++
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", x.Name, x.Kind, dash(x.Team), state, x.RatePerMinute, dash(strings.Join(x.Allow, ",")), live, when(x.LastSeen))
					}
				})
			})
		},
	}
	var upd wire.UpdateFlagClientRequest
	var active bool
	var rateN int
	var allow []string
	set := &cobra.Command{
		Use: "set NAME [--active=true|false] [--rate N] [--allow CIDR]…", Short: "Enable, disable or reconfigure a flag client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if fs.Changed("active") {
				upd.Active = &active
			}
			if fs.Changed("rate") {
				upd.RatePerMinute = &rateN
			}
			if fs.Changed("allow") {
				upd.Allow = &allow
			}
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				x, err := cl.UpdateFlagClient(ctx, args[0], upd)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), x, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "client %s: active %v, rate %d/min\n", x.Name, x.Active, x.RatePerMinute)
				})
			})
		},
	}
	set.Flags().BoolVar(&active, "active", true, "whether it may evaluate")
	set.Flags().IntVar(&rateN, "rate", 0, "evaluation requests a minute (0: the server's default)")
	set.Flags().StringSliceVar(&allow, "allow", nil, "addresses or CIDRs it may call from (give none to allow any: --allow '')")
	rotate := &cobra.Command{
		Use: "rotate NAME", Short: "Give a client a new key (shown once); its other keys work until revoked", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.RotateFlagClientKey(ctx, args[0])
				if err != nil {
					return err
				}
				return printKey(cmd, r)
			})
		},
	}
	revokeKey := &cobra.Command{
		Use: "revoke-key NAME KEY-ID|PREFIX", Short: "Revoke one of a client's keys at once", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if _, err := cl.RevokeFlagClientKey(ctx, args[0], strings.TrimSuffix(args[1], "…")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s of %s\n", args[1], args[0])
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a flag client and its keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.DeleteFlagClient(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted client %s\n", args[0])
				return nil
			})
		},
	}
	bulk := &cobra.Command{
		Use: "bulk enable|disable|rotate NAME…", Short: "Enable, disable or rotate the keys of several clients", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.BulkFlagClients(ctx, wire.BulkFlagClientsRequest{Action: args[0], Names: args[1:]})
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
					for _, d := range r.Done {
						if d.Secret != "" {
							fmt.Fprintf(tw, "%s\tnew key %s\n", d.Client.Name, d.Secret)
						} else {
							fmt.Fprintf(tw, "%s\t%s\n", d.Client.Name, map[bool]string{true: "active", false: "inactive"}[d.Client.Active])
						}
					}
				})
			})
		},
	}
	return group("clients", "Applications that read flags from the server over OFREP with a client key", c, create, list, set, rotate, revokeKey, del, bulk)
}

// flagsUsageCmd is `flags usage KEY`.
func flagsUsageCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "usage KEY", Short: "Who evaluated a flag in the last day and week (clients and machines)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				u, err := cl.FlagUsage(ctx, args[0])
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), u, func(tw *tabwriter.Writer) {
					if len(u.Subjects) == 0 {
						fmt.Fprintf(tw, "nobody evaluated %s in the last 7 days\n", u.Flag)
						return
					}
					fmt.Fprintln(tw, "WHO\tLAST 24 H\tLAST 7 DAYS\tLAST SEEN")
					for _, s := range u.Subjects {
						fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Subject, s.Day, s.Week, when(&s.LastSeen))
					}
				})
			})
		},
	}
}
