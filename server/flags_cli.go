package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// flagsCmd is `wirefleet-server flags …`.
func flagsCmd() *cobra.Command {
	c := &conn{}
	return group("flags", "Set, show, list and delete feature flags", c, flagsSetCmd(c), flagsGetCmd(c), flagsListCmd(c), flagsDeleteCmd(c), flagsUsageCmd(c))
}

// flagOptions are `flags set`'s options; only those given change a flag.
type flagOptions struct {
	typ, def, rulesJSON, desc string
	team                      string
	ruleArgs                  []string
	enabled                   bool
}

// apply changes f as the options given on the command line say. Rules
// given twice a key ({"value":1,"value":2}) are refused here: decoded
// here and sent re-encoded, the server would never see the repetition.
func (o *flagOptions) apply(fs *pflag.FlagSet, f *wire.Flag) error {
	if fs.Changed("type") {
		f.Type = o.typ
	}
	if fs.Changed("default") {
		f.Default = jsonValue(o.def)
	}
	if fs.Changed("enabled") {
		f.Enabled = o.enabled
	}
	if fs.Changed("description") {
		f.Description = o.desc
	}
	if fs.Changed("team") {
		f.Team = o.team
	}
	if fs.Changed("rules") {
		if err := json.Unmarshal([]byte(o.rulesJSON), &f.Rules); err != nil {
			return fmt.Errorf("--rules: not a JSON list of rules: %w", err)
		}
		if err := jsonkeys.Check([]byte(o.rulesJSON), &f.Rules); err != nil {
			return fmt.Errorf("--rules: %w", err)
		}
	}
	if fs.Changed("rule") {
		f.Rules = nil
		for i, r := range o.ruleArgs {
			var rule wire.FlagRule
			if err := json.Unmarshal([]byte(r), &rule); err != nil {
				return fmt.Errorf("--rule %d: not a JSON rule: %w", i+1, err)
			}
			if err := jsonkeys.Check([]byte(r), &rule); err != nil {
				return fmt.Errorf("--rule %d: %w", i+1, err)
			}
			f.Rules = append(f.Rules, rule)
		}
	}
	return nil
}

func flagsSetCmd(c *conn) *cobra.Command {
	var o flagOptions
	set := &cobra.Command{
		Use:   "set KEY",
		Short: "Create or change a flag (only the options given change an existing flag)",
		Example: `  wirefleet-server flags set new-ui --type boolean --default false --enabled \
    --rule '{"tags":["env:prod"],"value":true}' --rule '{"percentage":30,"value":true}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				f, err := cl.Flag(ctx, args[0])
				if wire.ErrorCode(err) == wire.CodeNotFound {
					f, err = wire.Flag{Key: args[0], Type: wire.FlagBoolean, Enabled: true, Default: json.RawMessage(`false`)}, nil
				}
				if err != nil {
					return err
				}
				if err := o.apply(cmd.Flags(), &f); err != nil {
					return err
				}
				saved, err := cl.SetFlag(ctx, f)
				if err != nil {
					return err
				}
				return printFlags(c, cmd, []wire.Flag{saved})
			})
		},
	}
	sf := set.Flags()
	sf.StringVar(&o.typ, "type", "boolean", "boolean, string, number or object")
	sf.StringVar(&o.team, "team", "", "the team the flag belongs to: only machines with its tags receive it, only its clients evaluate it (\"\": the whole fleet)")
	sf.StringVar(&o.def, "default", "false", "default value (JSON; a bare word is taken as a string)")
	sf.BoolVar(&o.enabled, "enabled", true, "evaluate rules (a disabled flag always gives its default)")
	sf.StringVar(&o.desc, "description", "", "what the flag is for")
	sf.StringArrayVar(&o.ruleArgs, "rule", nil, `a targeting rule as JSON, in order (repeatable): {"tags":[…],"os":[…],"arch":[…],"names":[…],"min_version":"1.2","max_version":"2","percentage":30,"value":…}`)
	sf.StringVar(&o.rulesJSON, "rules", "", "all rules as one JSON list (replaces --rule)")
	return set
}

func flagsGetCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "get KEY", Short: "Show a flag", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				f, err := cl.Flag(ctx, args[0])
				if err != nil {
					return err
				}
				if !c.json {
					c.json = true // a flag's rules read best as JSON
				}
				return c.print(cmd.OutOrStdout(), f, nil)
			})
		},
	}
}

func flagsListCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List flags", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				fl, err := cl.ListFlags(ctx)
				if err != nil {
					return err
				}
				return printFlags(c, cmd, fl)
			})
		},
	}
}

func flagsDeleteCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "delete KEY", Short: "Delete a flag", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.DeleteFlag(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted flag %s\n", args[0])
				return nil
			})
		},
	}
}

// jsonValue takes a JSON literal, or a bare word as a JSON string, so that
// --default blue works as well as --default '"blue"'.
func jsonValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func printFlags(c *conn, cmd *cobra.Command, fl []wire.Flag) error {
	return c.print(cmd.OutOrStdout(), fl, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "KEY\tTYPE\tENABLED\tDEFAULT\tRULES\tVERSION\tUPDATED BY")
		for _, f := range fl {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d\t%d\t%s\n", f.Key, f.Type, f.Enabled, strings.TrimSpace(string(f.Default)), len(f.Rules), f.Version, f.UpdatedBy)
		}
	})
}
