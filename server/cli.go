package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/config"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
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

func printMachines(c *conn, w io.Writer, ms []wire.Machine) error {
	return c.print(w, ms, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tONLINE\tIPV4\tIPV6\tOS\tAGENT\tTAGS\tLAST SEEN")
		for _, m := range ms {
			agent := m.AgentVersion
			if m.PinnedVersion != "" {
				agent += " (pinned " + m.PinnedVersion + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", m.ID, m.Name, m.State, m.Online, m.IPv4, m.IPv6,
				m.OS, m.Arch, agent, strings.Join(m.Tags, ","), when(m.LastSeen))
		}
		if len(ms) == 1 { // machines show: the key and the expiry
			m := ms[0]
			key := "registered " + when(m.KeyCreatedAt)
			if m.RotateKeyBefore != nil {
				key += "; rotation asked " + when(m.RotateKeyBefore) + ", waiting for the agent"
			}
			exp := "never"
			switch {
			case m.ExpiryDisabled:
				exp = "never (turned off by an admin)"
			case m.ExpiresAt != nil:
				exp = when(m.ExpiresAt)
			}
			fmt.Fprintf(tw, "\nwireguard key:\t%s\t%s\nexpires:\t%s\n", m.PublicKey, key, exp)
			if m.Owner != "" {
				fmt.Fprintf(tw, "owner:\t%s\n", m.Owner)
			}
		}
		if len(ms) == 1 && len(ms[0].Updates) > 0 { // machines show
			fmt.Fprintln(tw, "\nSELF-UPDATES\tFROM\tTO\tOUTCOME\tREASON")
			for _, u := range ms[0].Updates {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.At.Local().Format(time.DateTime), u.From, u.To, outcome(u.State), u.Reason)
			}
		}
	})
}

// outcome names a self-update attempt's state for people.
func outcome(state string) string {
	switch state {
	case "ok":
		return "installed"
	case "rolled_back":
		return "FAILED, rolled back"
	case "failed":
		return "REFUSED before install"
	}
	return state
}

func machinesCmd() *cobra.Command {
	c := &conn{}
	var f client.MachineFilter
	list := &cobra.Command{
		Use: "list", Short: "List machines", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				ms, err := cl.ListMachines(ctx, f)
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), ms)
			})
		},
	}
	list.Flags().StringVar(&f.State, "state", "", "active, revoked, online or offline")
	list.Flags().StringVar(&f.Tag, "tag", "", "only machines with this tag")
	list.Flags().StringVar(&f.Name, "name", "", "only machines whose name or hostname contains this")

	one := func(use, short string, fn func(context.Context, *client.Client, []string) (wire.Machine, error), nargs int) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
					m, err := fn(ctx, cl, args)
					if err != nil {
						return err
					}
					return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
				})
			},
		}
	}
	show := one("show ID|NAME", "Show one machine", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.Machine(ctx, a[0])
	}, 1)
	rename := one("rename ID|NAME NEW-NAME", "Rename a machine", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.UpdateMachine(ctx, a[0], wire.UpdateMachineRequest{Name: &a[1]})
	}, 2)
	tag := &cobra.Command{
		Use: "tag ID|NAME [TAG…]", Short: "Replace a machine's tags (none clears them)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				tags := append([]string{}, args[1:]...)
				m, err := cl.UpdateMachine(ctx, args[0], wire.UpdateMachineRequest{Tags: &tags})
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
			})
		},
	}
	pin := one("pin ID|NAME VERSION", "Pin a machine's agent to a published version (older ones included; overrides rollout and pause)", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.UpdateMachine(ctx, a[0], wire.UpdateMachineRequest{PinnedVersion: &a[1]})
	}, 2)
	unpin := one("unpin ID|NAME", "Let a pinned machine follow its channel again", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		none := ""
		return cl.UpdateMachine(ctx, a[0], wire.UpdateMachineRequest{PinnedVersion: &none})
	}, 1)
	revoke := one("revoke ID|NAME", "Revoke a machine: its credential stops working at once", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.RevokeMachine(ctx, a[0])
	}, 1)
	del := one("delete ID|NAME", "Delete a machine", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.DeleteMachine(ctx, a[0])
	}, 1)
	expiry := one("expiry ID|NAME off|DURATION", "Turn a machine's expiry off, or set it to a duration from now (an expired machine comes back)", func(ctx context.Context, cl *client.Client, a []string) (wire.Machine, error) {
		return cl.UpdateMachine(ctx, a[0], wire.UpdateMachineRequest{Expiry: &a[1]})
	}, 2)
	var all bool
	rotate := &cobra.Command{
		Use:   "rotate-key ID|NAME | rotate-key --all",
		Short: "Ask a machine's agent (or every active machine's) to replace its WireGuard key now; peers follow through their maps",
		Args: func(cmd *cobra.Command, args []string) error {
			if all != (len(args) == 0) || len(args) > 1 {
				return errors.New("give one machine, or --all and no machine")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if all {
					r, err := cl.RotateAllKeys(ctx)
					if err != nil {
						return err
					}
					return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
						fmt.Fprintf(tw, "asked %d machines to rotate their WireGuard keys; each does at its next map (offline ones when they return)\n", r.Machines)
					})
				}
				m, err := cl.RotateKey(ctx, args[0])
				if err != nil {
					return err
				}
				return printMachines(c, cmd.OutOrStdout(), []wire.Machine{m})
			})
		},
	}
	rotate.Flags().BoolVar(&all, "all", false, "every active machine (after a suspected compromise)")
	var limit int
	health := &cobra.Command{
		Use: "health ID|NAME", Short: "Show a machine's latest health report and history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				h, err := cl.Health(ctx, args[0], limit)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), h, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "machine:\t%s (online: %v)\n", h.MachineID, h.Online)
					if h.Latest == nil {
						fmt.Fprintln(tw, "no health report yet")
						return
					}
					r := h.Latest
					fmt.Fprintf(tw, "reported:\t%s (agent %s, %s, kernel %s, up %s)\n", when(h.ReceivedAt), r.AgentVersion, r.Platform, r.Kernel, time.Duration(r.UptimeSec)*time.Second)
					fmt.Fprintf(tw, "cpu:\t%.1f%%\nmemory:\t%d / %d MiB\ndisk:\t%d / %d GiB\n", r.CPUPercent, r.MemUsed>>20, r.MemTotal>>20, r.DiskUsed>>30, r.DiskTotal>>30)
					fmt.Fprintf(tw, "tunnel:\tup=%v %s, %d/%d peers with a recent handshake\n", r.Tunnel.Up, r.Tunnel.Interface, r.Tunnel.Connected, r.Tunnel.PeerCount)
					if r.Tunnel.Error != "" {
						fmt.Fprintf(tw, "tunnel error:\t%s\n", r.Tunnel.Error)
					}
					for _, p := range r.Tunnel.Peers {
						fmt.Fprintf(tw, "  peer %s\t%s\thandshake %s\trx %d\ttx %d\n", p.Name, p.Endpoint, when(p.LastHandshake), p.RxBytes, p.TxBytes)
					}
					if r.Dropped > 0 {
						fmt.Fprintf(tw, "dropped:\t%d reports while offline\n", r.Dropped)
					}
					fmt.Fprintf(tw, "history:\t%d reports\n", len(h.History))
				})
			})
		},
	}
	health.Flags().IntVar(&limit, "limit", 60, "history entries to fetch (0–120)")
	return group("machines", "List, show, rename, tag, pin, revoke and delete machines; rotate their keys; show health", c, list, show, rename, tag, pin, unpin, revoke, del, rotate, expiry, health)
}

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

func auditCmd() *cobra.Command {
	c := &conn{}
	var f client.AuditFilter
	cmd := &cobra.Command{
		Use: "audit", Short: "Show the audit log, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				page, err := cl.Audit(ctx, f)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), page, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tWHEN\tACTOR\tACTION\tTARGET\tFROM")
					for _, e := range page.Events {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Target, e.SourceIP)
					}
					if page.Next > 0 {
						fmt.Fprintf(tw, "(more: --before %d)\n", page.Next)
					}
				})
			})
		},
	}
	c.flags(cmd)
	cmd.Flags().Int64Var(&f.Before, "before", 0, "show events older than this ID (paging)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "events per page (1–1000)")
	cmd.Flags().StringVar(&f.Action, "action", "", "only actions starting with this (machine., token.create)")
	cmd.Flags().StringVar(&f.Target, "target", "", "only events about this ID")
	cmd.Flags().StringVar(&f.Actor, "actor", "", "only events by this actor (admin:alice, local:cli)")
	return cmd
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
