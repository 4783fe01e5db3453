package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
)

func tlsCmd() *cobra.Command {
	c := &conn{}
	var force bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Serve with the self-signed TLS key announced to agents as the next one, and announce a new next key",
		Long: `Agents pin both the server's current key and the next one, which they learn
from their maps and confirm in their health reports. rotate switches to
the next key (connections already open keep theirs; new ones get it) and
announces a new next key. It is refused while an active machine has not
confirmed the next key, naming it; --force rotates anyway (such machines
then cannot reach the server and must be enrolled again). Enrollment
one-liners printed before a rotation carry the old pin: print new ones.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.RotateTLS(ctx, force)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "serving with:\t%s\nnext key:\t%s (announced to agents)\n", r.Pin, r.NextPin)
				})
			})
		},
	}
	rotate.Flags().BoolVar(&force, "force", false, "rotate even though some active machines have not confirmed the next key")
	return group("tls", "The server's self-signed TLS key: rotate it without breaking agents' pins", c, rotate)
}
