package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/server/internal/backup"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// readPassphrase reads a passphrase file ("" → none).
func readPassphrase(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("--passphrase-file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if len(s) < 12 {
		return "", errors.New("--passphrase-file: the passphrase must be at least 12 characters")
	}
	return s, nil
}

func backupCmd() *cobra.Command {
	var to, dataDir, passFile string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write the server's database and keys to one file, while it serves",
		Long: `Write a consistent copy of the SQLite database (taken while the server runs),
the TLS certificate and key, the release signing keys and the published
releases in the data directory to one file, encrypted with the passphrase in
--passphrase-file when given. Restore it with ` + "`wirefleet-server restore`" + `.
A PostgreSQL database is backed up with pg_dump (see the README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return errors.New("--to FILE is required")
			}
			pass, err := readPassphrase(passFile)
			if err != nil {
				return err
			}
			m, err := writeBackup(context.Background(), dataDir, to, pass)
			if err != nil {
				return err
			}
			fi, _ := os.Stat(to)
			enc := "not encrypted (anyone with the file has the server's database and, unless the secrets are sealed, its keys; keep it safe or use --passphrase-file)"
			if m.Encrypted {
				enc = "encrypted with the passphrase"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s: %d files, %d bytes, schema %d, %s\n", to, len(m.Files), fi.Size(), m.Schema, enc)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the backup file to write")
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "the server's data directory")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "encrypt with the passphrase in this file (age, scrypt)")
	return cmd
}

func restoreCmd() *cobra.Command {
	var dataDir, passFile, dbURL string
	var force bool
	var kek sealed.KEKOptions
	cmd := &cobra.Command{
		Use:   "restore FILE --data-dir DIR | restore --db postgres://…",
		Short: "Restore a backup into a data directory (the server must not be running on it)",
		Long: `Restore a backup written by ` + "`wirefleet-server backup`" + ` into DIR, then start the
server on it. Every file is checked against the backup's manifest before any
is written. Agents keep their credentials; each gets a full network map at
its next poll (the map history is not restored). Machines enrolled after the
backup was taken are not in it and must enroll again.

For PostgreSQL, restore the pg_dump with pg_restore, then run
` + "`wirefleet-server restore --db postgres://…`" + ` (before starting any replica): it
only forgets the map history, so that agents get full maps.`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dbURL != "" {
				if len(args) != 0 || !strings.HasPrefix(dbURL, "postgres") {
					return errors.New("--db takes a postgres:// URL of a database pg_restore has filled, and no FILE")
				}
				ctx := context.Background()
				db, err := store.Open(ctx, dbURL)
				if err != nil {
					return err
				}
				defer db.Close()
				if err := db.ForgetMapHistory(ctx, backup.MapJump); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "map history forgotten: every agent gets a full map at its next poll; start the replicas")
				return nil
			}
			if len(args) != 1 {
				return errors.New("give the backup FILE (or --db for a PostgreSQL database restored with pg_restore)")
			}
			pass, err := readPassphrase(passFile)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := backup.Restore(context.Background(), f, dataDir, pass, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d files into %s from a backup of %s (server %s, schema %d); start the server on it\n",
				len(m.Files), dataDir, m.CreatedAt.Format("2006-01-02 15:04 MST"), m.ServerVersion, m.Schema)
			return checkRestoredSecrets(cmd.OutOrStdout(), dataDir, kek)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "the data directory to restore into")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "the passphrase of an encrypted backup")
	cmd.Flags().BoolVar(&force, "force", false, "replace the database in --data-dir (the server must be stopped)")
	cmd.Flags().StringVar(&dbURL, "db", "", "a PostgreSQL database just filled by pg_restore: only forget its map history")
	cmd.Flags().StringVar(&kek.KeyFile, "secrets-key-file", "", "check that this key-encryption key opens the restored (sealed) secrets")
	cmd.Flags().StringVar(&kek.PassphraseEnv, "secrets-passphrase-env", "", "check that the passphrase in this environment variable opens them")
	return cmd
}

// writeBackup writes a backup of the SQLite data directory to path,
// through a ".part" file renamed when complete. A sealed store goes in as
// it is on disk (sealed); its key-encryption key never does.
func writeBackup(ctx context.Context, dataDir, path, passphrase string) (backup.Manifest, error) {
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dataDir, "wirefleet.db"))
	if err != nil {
		return backup.Manifest{}, err
	}
	defer db.Close()
	f, err := os.OpenFile(path+".part", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return backup.Manifest{}, err
	}
	m, err := backup.Create(ctx, db, dataDir, daemon.Version, passphrase, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path + ".part")
		return m, err
	}
	return m, os.Rename(path+".part", path)
}

// checkRestoredSecrets tells what a restored sealed store needs: its
// key-encryption key, which no backup holds; with one given, it checks
// that the key opens every secret.
func checkRestoredSecrets(out io.Writer, dataDir string, kek sealed.KEKOptions) error {
	if !sealed.IsSealed(dataDir) {
		return nil
	}
	st, err := sealed.ReadStatus(dataDir)
	if err != nil {
		return err
	}
	if kek.KeyFile == "" && kek.PassphraseEnv == "" {
		fmt.Fprintf(out, "its secrets are sealed to %s (last opened with the %s); the backup does not hold that key:\n"+
			"start the server with it (--secrets-key-file FILE, --secrets-passphrase-env, or the systemd credential)\n", st.Recipient, st.Source)
		return nil
	}
	s, err := sealed.Open(dataDir, sealed.Options{Mode: sealed.Sealed, KEK: kek})
	if err != nil {
		return fmt.Errorf("restored, but the key given does not open the secrets: %w", err)
	}
	for _, e := range st.Secrets {
		if _, err := s.Get(e.Name); err != nil {
			return fmt.Errorf("restored, but %s does not open: %w", e.Name, err)
		}
	}
	fmt.Fprintf(out, "the key opens all %d sealed secrets; start the server with the same key option\n", len(st.Secrets))
	return nil
}
