package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/server/internal/config"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// conn holds the flags every admin subcommand shares: how to reach the
// server and how to print.
type conn struct {
	dataDir string
	server  string
	apiKey  string
	pin     string
	json    bool
	cfgFile string
}

func (c *conn) flags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.dataDir, "data-dir", defaultDataDir, "talk to the server running on this data dir over its root-only socket")
	f.StringVar(&c.server, "server", "", "talk to a remote server at this URL instead (needs --api-key)")
	f.StringVar(&c.apiKey, "api-key", "", "admin API key (wfa_…) for --server")
	f.StringVar(&c.pin, "pin", "", "pin the server's TLS key (sha256/…) for a self-signed certificate")
	f.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	f.StringVar(&c.cfgFile, "config", "", "YAML config file")
}

func (c *conn) client(cmd *cobra.Command) (*client.Client, error) {
	if err := config.Apply(cmd.Flags(), c.cfgFile); err != nil {
		return nil, err
	}
	if c.server != "" {
		if c.apiKey == "" {
			return nil, fmt.Errorf("--server needs --api-key (or WIREFLEET_API_KEY)")
		}
		opts := []client.Option{client.WithToken(c.apiKey)}
		if c.pin != "" {
			opts = append(opts, client.WithPin(c.pin))
		}
		return client.New(c.server, opts...)
	}
	sock := c.dataDir + "/" + daemon.SocketName
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("no running server found at %s (is `wirefleet-server serve --data-dir %s` running, and are you root?): %w", sock, c.dataDir, err)
	}
	return daemon.Client(c.dataDir)
}

// do runs fn with a client for the chosen server and a 30-second deadline:
// the preamble every admin subcommand shares.
func (c *conn) do(cmd *cobra.Command, fn func(context.Context, *client.Client) error) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := ctx()
	defer cancel()
	return fn(ctx, cl)
}

func (c *conn) print(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	if c.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// group makes a parent command whose children share connection flags.
func group(use, short string, c *conn, children ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	c.flags(cmd)
	cmd.AddCommand(children...)
	return cmd
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
