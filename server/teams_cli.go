package main

// `wirefleet-server teams …`: teams own tags; their admins manage the
// machines and tokens with those tags, their members read them.

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func teamsCmd() *cobra.Command {
	c := &conn{}
	var req wire.PutTeamRequest
	set := &cobra.Command{
		Use: "set NAME --tag T… [--admin PERSON]… [--member PERSON]… [--admin-group G]… [--member-group G]…", Short: "Create or replace a team", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				t, err := cl.PutTeam(ctx, args[0], req)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), t, func(tw *tabwriter.Writer) { printTeams(tw, []wire.Team{t}) })
			})
		},
	}
	f := set.Flags()
	f.StringSliceVar(&req.Tags, "tag", nil, "a tag the team owns (repeatable): its machines are those with one of them")
	f.StringSliceVar(&req.Admins, "admin", nil, "a person who administers the team (repeatable)")
	f.StringSliceVar(&req.Members, "member", nil, "a person in the team (repeatable)")
	f.StringSliceVar(&req.AdminGroups, "admin-group", nil, "a directory group whose people administer the team (repeatable)")
	f.StringSliceVar(&req.MemberGroups, "member-group", nil, "a directory group whose people are in the team (repeatable)")
	list := &cobra.Command{
		Use: "list", Short: "List teams", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ts, err := cl.Teams(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) { printTeams(tw, ts) })
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a team (its machines keep their tags)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.DeleteTeam(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted team %s\n", args[0])
				return nil
			})
		},
	}
	return group("teams", "Teams: the tags they own, who administers them and who is in them", c, set, list, del)
}

func printTeams(tw *tabwriter.Writer, ts []wire.Team) {
	fmt.Fprintln(tw, "TEAM\tTAGS\tADMINS\tMEMBERS")
	for _, t := range ts {
		admins := append(append([]string{}, t.Admins...), prefixed("directory:", t.AdminGroups)...)
		members := append(append([]string{}, t.Members...), prefixed("directory:", t.MemberGroups)...)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, strings.Join(prefixed("tag:", t.Tags), ", "), dash(strings.Join(admins, ", ")), dash(strings.Join(members, ", ")))
	}
}

func prefixed(p string, l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		out = append(out, p+s)
	}
	return out
}
