package main

// `wirefleet-server directory` and `scim tokens …`: the people and groups
// the company's identity provider keeps here, and the tokens it
// provisions with.

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func directoryCmd() *cobra.Command {
	c := &conn{}
	people := &cobra.Command{
		Use: "people", Short: "List every person: role, state, directory groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				d, err := cl.Directory(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), d.People, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tNAME\tDISPLAY NAME\tROLE\tSTATE\tGROUPS")
					for _, p := range d.People {
						state := "active"
						if p.Deactivated {
							state = "deactivated"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, dash(p.DisplayName), p.Role, state, dash(strings.Join(p.Groups, ", ")))
					}
				})
			})
		},
	}
	groups := &cobra.Command{
		Use: "groups", Short: "List the directory's groups (directory:NAME in the policy) and their members", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				d, err := cl.Directory(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), d.Groups, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tNAME\tMEMBERS\tUPDATED")
					for _, g := range d.Groups {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.ID, g.Name, dash(strings.Join(g.Members, ", ")), when(&g.UpdatedAt))
					}
				})
			})
		},
	}
	return group("directory", "The people and groups your identity provider keeps here (SCIM, the OIDC groups claim)", c, people, groups)
}

func scimCmd() *cobra.Command {
	c := &conn{}
	create := &cobra.Command{
		Use: "create", Short: "Create a SCIM bearer token for the identity provider (shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.CreateSCIMToken(ctx)
				if err != nil {
					return err
				}
				if c.json {
					return c.print(cmd.OutOrStdout(), resp, nil)
				}
				info, err := cl.ServerInfo(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "SCIM base URL: %s%s\n", strings.TrimSuffix(info.URL, "/"), wire.PathSCIM)
				fmt.Fprintf(out, "bearer token:  %s\n", resp.Secret)
				fmt.Fprintln(out, "\nGive both to the identity provider's SCIM provisioning (Okta: API Token; Entra ID: Secret Token).")
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List SCIM tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ts, err := cl.ListSCIMTokens(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tPREFIX\tCREATED BY\tCREATED\tLAST USED\tREVOKED")
					for _, t := range ts {
						fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", t.ID, t.Prefix, t.CreatedBy, when(&t.CreatedAt), when(t.LastUsedAt), when(t.RevokedAt))
					}
				})
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID|PREFIX", Short: "Revoke a SCIM token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.RevokeSCIMToken(ctx, strings.TrimSuffix(args[0], "…")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked SCIM token %s\n", args[0])
				return nil
			})
		},
	}
	tokens := group("tokens", "Create, list and revoke the identity provider's SCIM tokens", c, create, list, revoke)
	cmd := &cobra.Command{Use: "scim", Short: "SCIM 2.0 provisioning from your identity provider", Args: cobra.NoArgs}
	cmd.AddCommand(tokens)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
