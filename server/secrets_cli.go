package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// secretsCmd is `wirefleet-server secrets …`: the server's own secrets.
func secretsCmd() *cobra.Command {
	c := &conn{}
	return group("secrets", "The server's own secrets (TLS keys, release keys, SSO secret, metrics token): status, seal, rotate", c,
		secretsStatusCmd(c), secretsSealCmd(c), secretsRotateCmd(c))
}

func secretsStatusCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "List the server's secrets: sealed or plain, made and rotated when, where the key-encryption key is", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				st, err := cl.Secrets(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) { printSecrets(tw, st) })
			})
		},
	}
}

func printSecrets(tw *tabwriter.Writer, st wire.SecretsStatus) {
	fmt.Fprintf(tw, "mode:\t%s\n", st.Mode)
	if st.Source != "" {
		fmt.Fprintf(tw, "key-encryption key:\t%s (%s, made %s)\n", st.Source, st.Recipient, st.KEKCreated.Local().Format("2006-01-02"))
	}
	fmt.Fprintln(tw, "\nSECRET\tSEALED\tAGE\tLAST ROTATED\tORIGIN")
	for _, s := range st.Secrets {
		age := "-"
		if !s.Created.IsZero() {
			age = fmt.Sprintf("%dd", int(time.Since(s.Created).Hours()/24))
		}
		rot := "-"
		if !s.Rotated.IsZero() {
			rot = s.Rotated.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", s.Name, s.Sealed, age, rot, s.Origin)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(tw, "\nWARNING: %s", w)
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(tw)
	}
}

func secretsSealCmd(c *conn) *cobra.Command {
	var backupTo string
	var noBackup bool
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal a plain server's secrets in place while it serves (a backup is written first)",
		Long: `Encrypt the running server's plain secrets (TLS keys, single-box release keys,
ACME account) with its key-encryption key — made now in the file named by the
server's --secrets-key-file (default <data-dir>.kek) unless a passphrase or a
systemd credential is configured — and remove the plain files. The keys do not
change: agents keep their pins and tunnels. Each file is sealed, read back and
compared before the plain one is removed, so an interrupted seal is simply run
again. Secrets given by flags (--metrics-token-file, --oidc-client-secret-file,
--relay-mesh-key-file) are sealed at the next start; remove the files after.

A backup of the data directory is written first (--backup-to); it holds the
secrets in the clear: keep it safe, and delete it once the sealed server has
restarted well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			st, err := cl.Secrets(ctx)
			if err != nil {
				return err
			}
			if st.Mode == "sealed" {
				fmt.Fprintln(cmd.OutOrStdout(), "already sealed")
				return c.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) { printSecrets(tw, st) })
			}
			if !noBackup {
				if c.server != "" {
					return errors.New("seal writes a backup of the data directory first: run it on the server (--data-dir), or give --no-backup")
				}
				if backupTo == "" {
					backupTo = filepath.Clean(c.dataDir) + "-before-seal-" + time.Now().Format("20060102-150405") + ".tar.gz"
				}
				if _, err := writeBackup(ctx, c.dataDir, backupTo, ""); err != nil {
					return fmt.Errorf("the backup before sealing failed (nothing was sealed): %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s (it holds the plain secrets: keep it safe, delete it once the sealed server restarted well)\n", backupTo)
			}
			if st, err = cl.SealSecrets(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sealed %d secrets with the %s\n", len(st.Secrets), st.Source)
			fmt.Fprintln(cmd.OutOrStdout(), "keep a copy of that key apart from the server and its backups: without it the data directory cannot be opened")
			return nil
		},
	}
	cmd.Flags().StringVar(&backupTo, "backup-to", "", "where the backup taken first goes (default <data-dir>-before-seal-TIME.tar.gz)")
	cmd.Flags().BoolVar(&noBackup, "no-backup", false, "seal without taking a backup first")
	return cmd
}

func secretsRotateCmd(c *conn) *cobra.Command {
	var valueFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "rotate tls|signing|sso|metrics|kek",
		Short: "Replace one of the server's secrets (audited)",
		Long: `tls      serve with the TLS key announced to agents as next (as tls rotate; --force)
signing  a new release signing key: keys.json signed again by the root kept on
         this server and published; the published releases are signed again, so
         nothing signed by the old key verifies any more
sso      store the new client secret your identity provider issued (--value-file)
metrics  a new /metrics bearer token, printed once: give it to your scraper
kek      a new key-encryption key: every secret sealed again, the key file (or the
         passphrase-wrapped key) replaced; back up the new key file`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"tls", "signing", "sso", "metrics", "kek"},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := wire.RotateSecretRequest{Secret: args[0], Force: force}
			if valueFile != "" {
				v, err := readValue(valueFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				req.Value = v
			} else if args[0] == "sso" {
				return errors.New("sso: give the new client secret with --value-file FILE (or - for standard input)")
			}
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				r, err := cl.RotateSecret(ctx, req)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
					switch r.Secret {
					case "tls":
						fmt.Fprintf(tw, "serving with:\t%s\nnext key:\t%s (announced to agents)\n", r.Pin, r.NextPin)
					case "signing":
						fmt.Fprintf(tw, "new signing key published; %d release manifest(s) signed again with it\n", r.Resigned)
					case "metrics":
						fmt.Fprintf(tw, "new metrics token (shown once): %s\n", r.Token)
					case "kek":
						fmt.Fprintf(tw, "secrets sealed to the new key-encryption key %s: back up the new key now\n", r.Recipient)
					default:
						fmt.Fprintf(tw, "%s rotated\n", r.Secret)
					}
				})
			})
		},
	}
	cmd.Flags().StringVar(&valueFile, "value-file", "", "sso: file holding the new client secret (- reads standard input)")
	cmd.Flags().BoolVar(&force, "force", false, "tls: rotate even though some active machines have not confirmed the next key")
	return cmd
}

func readValue(path string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("--value-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
