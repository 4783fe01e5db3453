package main

// `wirefleet-server admin …` and `apikeys …`: the people who run the
// fleet and their keys.

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func apikeysCmd() *cobra.Command {
	c := &conn{}
	var req wire.CreateAPIKeyRequest
	create := &cobra.Command{
		Use: "create", Short: "Create an admin API key (shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.CreateAPIKey(ctx, req)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), resp, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "api key: %s\n", resp.Secret) })
			})
		},
	}
	create.Flags().StringVar(&req.Admin, "admin", "", "admin that owns the key (default: the caller; required over the socket)")
	create.Flags().StringVar(&req.ExpiresIn, "expires", "", "lifetime, e.g. 720h (default: no expiry)")
	list := &cobra.Command{
		Use: "list", Short: "List admin API keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ks, err := cl.ListAPIKeys(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), ks, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tPREFIX\tADMIN\tCREATED\tEXPIRES\tREVOKED")
					for _, k := range ks {
						fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Admin, when(&k.CreatedAt), when(k.ExpiresAt), when(k.RevokedAt))
					}
				})
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID|PREFIX", Short: "Revoke an admin API key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.RevokeAPIKey(ctx, strings.TrimSuffix(args[0], "…")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked API key %s\n", args[0])
				return nil
			})
		},
	}
	return group("apikeys", "Create, list and revoke admin API keys", c, create, list, revoke)
}

func adminCmd() *cobra.Command {
	c := &conn{}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an admin; prints its password and API key once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.CreateAdmin(ctx, args[0])
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), resp, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "admin:\t%s\npassword:\t%s\napi key:\t%s\n", resp.Admin.Name, resp.Password, resp.APIKey)
				})
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List admins", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				as, err := cl.ListAdmins(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), as, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
					for _, a := range as {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, a.Name, cmp.Or(a.Role, wire.RoleAdmin), when(&a.CreatedAt))
					}
				})
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ID|NAME", Short: "Delete an admin and its API keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.DeleteAdmin(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted admin %s\n", args[0])
				return nil
			})
		},
	}
	passwd := &cobra.Command{
		Use: "passwd ID|NAME", Short: "Give an admin a new random password (printed once) and sign its sessions out", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				resp, err := cl.ResetPassword(ctx, args[0])
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), resp, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "admin:\t%s\npassword:\t%s\n", resp.Admin.Name, resp.Password)
				})
			})
		},
	}
	return group("admin", "Create, list and delete admins; reset passwords", c, create, list, del, passwd)
}
