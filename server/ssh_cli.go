package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
)

// sshCmd is what the server keeps of SSH over the overlay: sessions,
// their recordings, and the confirmations check rules ask for.
func sshCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh",
		Short: "SSH over the overlay: sessions, their recordings, confirming a login (check rules)",
		Long: "Agents serve SSH on their overlay address to the machines the policy's \"ssh\" rules name, as the\n" +
			"users they name: no SSH keys or passwords. Every session is reported here, and recorded\n" +
			"(asciinema v2) when the policy says \"recordSessions\": true.",
	}
	cmd.AddCommand(sshSessionsCmd(), sshRecordingCmd(), sshConfirmCmd())
	return cmd
}

func sshSessionsCmd() *cobra.Command {
	c := &conn{}
	var machine string
	var limit int
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "SSH sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				list, err := cl.SSHSessions(ctx, machine, limit)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), list, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tSTART\tMACHINE\tUSER\tFROM\tOWNER\tKIND\tEND\tEXIT\tRECORDED")
					for _, s := range list.Sessions {
						end, exit := "open", "-"
						if s.End != nil {
							end = s.End.Local().Format("15:04:05")
							if s.Reason != "" {
								end += " (" + s.Reason + ")"
							}
						}
						if s.ExitStatus != nil {
							exit = fmt.Sprint(*s.ExitStatus)
						}
						rec := "no"
						if s.Recorded {
							rec = fmt.Sprintf("%d B", s.RecordingBytes)
						}
						from := or(s.SrcName, "console:"+s.Console)
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Start.Local().Format("2006-01-02 15:04:05"), s.MachineName, s.User,
							from, or(s.Owner, "-"), or(s.Kind, "-"), end, exit, rec)
					}
				})
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&machine, "machine", "", "sessions to this machine (name or ID)")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many (1–1000)")
	return cmd
}

func sshRecordingCmd() *cobra.Command {
	c := &conn{}
	var out string
	cmd := &cobra.Command{
		Use:     "recording SESSION",
		Short:   "Write a session's recording (an asciinema v2 cast: play it with `asciinema play`)",
		Example: "  wirefleet-server ssh recording 3f2a… -o session.cast && asciinema play session.cast",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				w := cmd.OutOrStdout()
				if out != "" && out != "-" {
					f, err := os.Create(out)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				return cl.SSHRecording(ctx, args[0], w)
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "-", "file to write (- for standard output)")
	return cmd
}

func sshConfirmCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:   "confirm CHECK",
		Short: "Confirm a login from one of your machines that a check rule holds (as the link ssh printed does)",
		Long: "Only the owner of the connecting machine can confirm, with their own API key (--server, --api-key);\n" +
			"the console's page at the link does the same after signing in.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ch, err := cl.ConfirmSSHCheck(ctx, args[0])
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), ch, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "confirmed: %s may log in from %s to %s as %s\n", ch.Owner, ch.Src, ch.Dst, ch.User)
				})
			})
		},
	}
	c.flags(cmd)
	return cmd
}
