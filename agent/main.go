// Command wirefleet-agent is the Wirefleet endpoint agent. This build is the
// skeleton the server core ships with: it reports its version and passes the
// self-test the updater runs; enrollment, the tunnel and the system service
// arrive with the agent issue.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// Version is stamped at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	root := &cobra.Command{
		Use:           "wirefleet-agent",
		Short:         "Wirefleet endpoint agent",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "self-test",
		Short: "Print the version and exit 0 (the updater runs this before swapping binaries)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "wirefleet-agent %s %s/%s\n", Version, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
