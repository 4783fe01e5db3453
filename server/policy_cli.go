package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// policyCmd is `wirefleet-server policy …`.
func policyCmd() *cobra.Command {
	c := &conn{}
	return group("policy", "The access policy: which machines may reach which (get, set, check, clear, test)", c,
		policyGetCmd(c), policyPutCmd(c, "set FILE", "Check a policy (HuJSON) and put it in force", false),
		policyPutCmd(c, "check FILE", "Check a policy and run its tests without applying it", true), policyClearCmd(c), policyTestCmd(c))
}

func policyGetCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "get", Short: "Print the access policy in force (nothing when none is set)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				p, err := cl.Policy(ctx)
				if err != nil {
					return err
				}
				if c.json {
					return c.print(cmd.OutOrStdout(), p, nil)
				}
				if p.Text == "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "no access policy is set: every machine reaches every machine")
					return nil
				}
				fmt.Fprint(cmd.OutOrStdout(), p.Text)
				if p.Text[len(p.Text)-1] != '\n' {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				return nil
			})
		},
	}
}

// policyPutCmd is `set FILE`, or with dry `check FILE`.
func policyPutCmd(c *conn, use, short string, dry bool) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		Example: "  wirefleet-server policy " + use[:len(use)-5] + " policy.hujson\n  wirefleet-server policy " + use[:len(use)-5] + " - < policy.hujson",
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readPolicy(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				p, err := cl.SetPolicy(ctx, wire.PutPolicyRequest{Text: text, DryRun: dry})
				if err != nil {
					return problems(cmd.ErrOrStderr(), args[0], err)
				}
				if c.json {
					return c.print(cmd.OutOrStdout(), p, nil)
				}
				passed := 0
				for _, t := range p.Tests {
					if t.Pass {
						passed++
					}
				}
				switch {
				case dry:
					fmt.Fprintf(cmd.OutOrStdout(), "%s: valid, %d rules, %d of %d test expectations pass (nothing applied)\n", args[0], p.Rules, passed, len(p.Tests))
				case !p.Applied:
					fmt.Fprintf(cmd.OutOrStdout(), "unchanged: policy version %d is already this text\n", p.Version)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "policy version %d in force: %d rules, %d of %d test expectations pass; every agent has its new peers\n", p.Version, p.Rules, passed, len(p.Tests))
				}
				return nil
			})
		},
	}
}

func policyClearCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "clear", Short: "Remove the access policy: every machine reaches every machine again", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				p, err := cl.SetPolicy(ctx, wire.PutPolicyRequest{Text: ""})
				if err != nil {
					return err
				}
				if !p.Applied {
					fmt.Fprintln(cmd.OutOrStdout(), "no access policy was set")
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "access policy removed (version %d): every machine reaches every machine\n", p.Version)
				return nil
			})
		},
	}
}

func policyTestCmd(c *conn) *cobra.Command {
	var facts []string
	cmd := &cobra.Command{
		Use:   "test SRC DST:PORT",
		Short: "Ask whether the policy in force lets SRC reach DST",
		Long: "SRC and DST are tag:NAME, machine:NAME or an overlay address; DST ends in :PORT (TCP),\n" +
			":PORT/udp or :icmp; an IPv6 address is written in brackets. --src-facts takes the source\n" +
			"to have these facts (over what its agent reported), to see what postures make of it.",
		Example: "  wirefleet-server policy test tag:laptop machine:db-1:5432\n  wirefleet-server policy test 100.64.0.7 tag:dns:53/udp\n" +
			"  wirefleet-server policy test machine:laptop-1 tag:db:5432 --src-facts os.version=11,agent.version=1.3.0",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				a, err := cl.QueryPolicy(ctx, wire.PolicyQuery{Src: args[0], Dst: args[1], SrcFacts: facts})
				if err != nil {
					return err
				}
				if c.json {
					return c.print(cmd.OutOrStdout(), a, nil)
				}
				verdict := "denied"
				if a.Allowed {
					verdict = "allowed"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s → %s: %s (%s; policy version %d)\n", args[0], args[1], verdict, a.Reason, a.Version)
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&facts, "src-facts", nil, "KEY=VALUE facts the source is taken to have (os.version=11,agent.version=1.3.0)")
	return cmd
}

func readPolicy(stdin io.Reader, name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, policy.MaxSize+1))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", err
	}
	if len(b) > policy.MaxSize {
		return "", fmt.Errorf("%s is larger than the 1 MiB a policy may be", name)
	}
	return string(b), nil
}

// problems prints a policy's problems as FILE:LINE:COL: message, the way
// compilers do, so editors can jump to them.
func problems(w io.Writer, file string, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) || len(we.Problems) == 0 {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, p := range we.Problems {
		if p.Line > 0 {
			fmt.Fprintf(tw, "%s:%d:%d: %s\n", file, p.Line, p.Col, p.Message)
		} else {
			fmt.Fprintf(tw, "%s: %s\n", file, p.Message)
		}
	}
	tw.Flush()
	return fmt.Errorf("%s has %d problem(s); nothing was changed", file, len(we.Problems))
}
