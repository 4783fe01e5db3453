package main

// `wirefleet-server tokens …` and `one-liner`: enrollment tokens and the
// commands that use them.

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
)

func tokensCmd() *cobra.Command {
	c := &conn{}
	var req wire.CreateTokenRequest
	var expires string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an enrollment token (shown once) and print its one-liners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				req.ExpiresIn = expires
				resp, err := cl.CreateToken(ctx, req)
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
				fmt.Fprintf(out, "token:   %s\n", resp.Secret)
				fmt.Fprintf(out, "expires: %s, uses: %s\n\n", when(resp.Token.ExpiresAt), usesText(resp.Token))
				for _, l := range oneliner.For(oneliner.Server{URL: info.URL, Pin: info.Pin, ReleaseKey: info.ReleaseKey, ScriptSHA256: info.InstallPS1}, resp.Secret) {
					fmt.Fprintf(out, "%s:\n  %s\n", l.Label, l.Command)
				}
				return nil
			})
		},
	}
	cf := create.Flags()
	cf.BoolVar(&req.Reusable, "reusable", false, "allow more than one enrollment")
	cf.BoolVar(&req.Ephemeral, "ephemeral", false, "machines enrolled with it are removed once offline for --ephemeral-ttl")
	cf.IntVar(&req.MaxUses, "max-uses", 0, "limit a reusable token to N enrollments (0 = unlimited)")
	cf.StringSliceVar(&req.Tags, "tag", nil, "tag given to machines enrolled with it (repeatable)")
	cf.StringVar(&expires, "expires", "", "lifetime, e.g. 1h, 24h, 720h (default: the server's --token-ttl)")
	cf.StringVar(&req.Owner, "owner", "", "the person whose machines it enrolls (an account name, e.g. alice@example.com): their directory groups apply to them")
	cf.StringVar(&req.MachineExpiry, "machine-expiry", "", "machines enrolled (or re-authenticated) with it expire after this long, e.g. 720h (default: the server's --machine-expiry)")

	list := &cobra.Command{
		Use: "list", Short: "List enrollment tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ts, err := cl.ListTokens(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tPREFIX\tSTATE\tREUSABLE\tEPHEMERAL\tUSES\tTAGS\tEXPIRES\tCREATED BY")
					for _, t := range ts {
						fmt.Fprintf(tw, "%s\t%s…\t%s\t%v\t%v\t%s\t%s\t%s\t%s\n", t.ID, t.Prefix, t.State, t.Reusable, t.Ephemeral,
							usesText(t), strings.Join(t.Tags, ","), when(t.ExpiresAt), t.CreatedBy)
					}
				})
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID|PREFIX", Short: "Revoke an enrollment token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				t, err := cl.RevokeToken(ctx, strings.TrimSuffix(args[0], "…"))
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), t, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "revoked token %s (%s…)\n", t.ID, t.Prefix) })
			})
		},
	}
	return group("tokens", "Create, list and revoke enrollment tokens", c, create, list, revoke)
}

func usesText(t wire.Token) string {
	if t.MaxUses == 0 {
		return fmt.Sprintf("%d/∞", t.Uses)
	}
	return fmt.Sprintf("%d/%d", t.Uses, t.MaxUses)
}

// oneLinerCmd prints the enrollment one-liners for an existing token secret.
func oneLinerCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use: "oneliner TOKEN", Short: "Print the enrollment one-liners for a token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				info, err := cl.ServerInfo(ctx)
				if err != nil {
					return err
				}
				for _, l := range oneliner.For(oneliner.Server{URL: info.URL, Pin: info.Pin, ReleaseKey: info.ReleaseKey, ScriptSHA256: info.InstallPS1}, args[0]) {
					fmt.Fprintf(cmd.OutOrStdout(), "%s:\n  %s\n", l.Label, l.Command)
				}
				return nil
			})
		},
	}
	c.flags(cmd)
	return cmd
}
