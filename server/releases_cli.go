package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
)

// remoteTarget publishes through the admin API.
type remoteTarget struct {
	ctx context.Context
	cl  *client.Client
}

func (r remoteTarget) PutFile(name string, rd io.Reader) (string, int64, error) {
	return "", 0, r.cl.UploadReleaseFile(r.ctx, name, rd)
}

func (r remoteTarget) PutKeys(root string, keys, sig []byte) error {
	return r.cl.PublishKeys(r.ctx, wire.PublishKeysRequest{RootPublicKey: root, KeysJSON: string(keys), Signature: string(sig)})
}

func (r remoteTarget) PutManifest(channel string, body, sig []byte, allowOlder bool) (release.Manifest, error) {
	var m release.Manifest
	return m, r.cl.PublishManifest(r.ctx, channel, wire.PublishManifestRequest{Manifest: string(body), Signature: string(sig), AllowOlder: allowOlder}, &m)
}

// releaseKeys is where the release keys are and how they are unlocked:
// the group's persistent flags, which keygen, rotate and publish read.
type releaseKeys struct {
	dir, passwordEnv string
}

// password is the keys' password from the environment variable named
// by --password-env ("" when none: unencrypted keys).
func (k *releaseKeys) password() string {
	if k.passwordEnv == "" {
		return ""
	}
	return os.Getenv(k.passwordEnv)
}

// releasesCmd is `wirefleet-server releases …`.
func releasesCmd() *cobra.Command {
	c, k := &conn{}, &releaseKeys{}
	cmd := group("releases", "Signed agent releases: keygen, rotate, publish, list, pause, resume", c,
		releasesKeygenCmd(k), releasesRotateCmd(k), releasesRootCmd(k), releasesPublishCmd(c, k), releasesListCmd(c), releasesPauseCmd(c, true), releasesPauseCmd(c, false))
	cmd.PersistentFlags().StringVar(&k.dir, "keys", "./release-keys", "directory holding the release keys")
	cmd.PersistentFlags().StringVar(&k.passwordEnv, "password-env", "", "environment variable holding the keys' password (default: keys unencrypted, 0600)")
	return cmd
}

// validFlag is keygen's and rotate's --valid.
func validFlag(cmd *cobra.Command, valid *time.Duration) {
	cmd.Flags().DurationVar(valid, "valid", 365*24*time.Hour, "how long keys.json (and the signing key) stay valid")
}

func releasesKeygenCmd(k *releaseKeys) *cobra.Command {
	var valid time.Duration
	var signingOnly bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create a root key and a release-signing key (keep the root offline), or --signing-only a signing key for the offline root to sign",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if signingOnly {
				pub, err := release.SigningKeygen(k.dir, k.password())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signing key in %s\npublic key: %s\nnext, on the machine with the root key:\n  wirefleet-server releases root sign-keys --root ROOT_DIR --key %s --out DIR\nthen copy DIR's keys.json, keys.json.minisig and root.pub into %s and publish\n", k.dir, pub, pub, k.dir)
				return nil
			}
			if err := release.Keygen(k.dir, k.password(), valid); err != nil {
				return err
			}
			root, _ := release.RootPublicKey(k.dir)
			fmt.Fprintf(cmd.OutOrStdout(), "keys in %s\nroot public key (agents pin it): %s\n", k.dir, root)
			return nil
		},
	}
	validFlag(cmd, &valid)
	cmd.Flags().BoolVar(&signingOnly, "signing-only", false, "make only a signing key (replacing the one in --keys): the root that signs its key list stays offline")
	return cmd
}

// releasesRootCmd is the offline ceremony's half on the admin's machine.
func releasesRootCmd(k *releaseKeys) *cobra.Command {
	var out string
	initCmd := &cobra.Command{
		Use:   "init --out DIR",
		Short: "Create the release root key alone in DIR, on an offline machine (agents pin its public key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required (removable media kept offline)")
			}
			pub, err := release.RootInit(out, k.password())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "root key in %s (keep it offline; --password-env encrypts it)\nroot public key (agents pin it): %s\n", out, pub)
			return nil
		},
	}
	initCmd.Flags().StringVar(&out, "out", "", "directory for root.key and root.pub")
	var root string
	var keys []string
	var valid time.Duration
	sign := &cobra.Command{
		Use:   "sign-keys --root DIR --key PUB... --out DIR",
		Short: "Sign the list of release signing keys agents trust with the offline root key",
		Long: `Write keys.json (the given signing public keys, valid for --valid), its
signature by the root key in --root, and root.pub into --out. Copy the three
files beside the signing key where releases are published; the next
` + "`releases publish`" + ` hands them to the server and its agents. A key left out of the
list is retired: agents refuse what it signs from their next check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" || out == "" {
				return fmt.Errorf("--root DIR and --out DIR are required")
			}
			if err := release.SignKeySet(root, k.password(), keys, valid, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keys.json (%d signing keys, valid %s) signed into %s\n", len(keys), valid, out)
			return nil
		},
	}
	sign.Flags().StringVar(&root, "root", "", "directory holding root.key")
	sign.Flags().StringArrayVar(&keys, "key", nil, "a signing public key (RW…) or its .pub file (repeatable)")
	sign.Flags().StringVar(&out, "out", "", "where keys.json, keys.json.minisig and root.pub are written")
	validFlag(sign, &valid)
	cmd := &cobra.Command{Use: "root", Short: "The offline release root: init, sign-keys", Args: cobra.NoArgs}
	cmd.AddCommand(initCmd, sign)
	return cmd
}

func releasesRotateCmd(k *releaseKeys) *cobra.Command {
	var valid time.Duration
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the signing key and re-sign keys.json with the root (no agent reinstall needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := release.RotateSigningKey(k.dir, k.password(), valid); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new signing key in %s; publish a release to hand out the new keys.json\n", k.dir)
			return nil
		},
	}
	validFlag(cmd, &valid)
	return cmd
}

func releasesPublishCmd(c *conn, k *releaseKeys) *cobra.Command {
	var o releasestore.PublishOptions
	var (
		files []string
		dist  string
	)
	publish := &cobra.Command{
		Use:   "publish",
		Short: "Sign binaries and a manifest with the signing key, and upload them to the server",
		Example: "  wirefleet-server releases publish --keys ./keys --channel stable --version 1.2.0 --dist dist\n" +
			"  wirefleet-server releases publish --keys ./keys --channel stable --version 1.2.0 \\\n" +
			"    --file linux/amd64=dist/wirefleet-agent-1.2.0-linux-amd64 --file windows/amd64-msi=dist/wirefleet-agent-1.2.0-windows-amd64.msi",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			o.Files = map[string]string{}
			if dist != "" {
				if o.Files, err = releasestore.DistFiles(dist, o.Version); err != nil {
					return err
				}
			}
			for _, f := range files {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("--file %q must be os/arch=PATH", f)
				}
				o.Files[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			m, err := releasestore.Publish(remoteTarget{ctx, cl}, k.dir, k.password(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %s %s: %d binaries, rollout %g%%, manifest expires %s\n",
				m.Channel, m.Version, len(m.Artifacts), m.Rollout, m.Expires.Format(time.RFC3339))
			if m.Rollout == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "rollout 0%: no machine takes it yet; publish again with a higher --rollout to start")
			}
			return nil
		},
	}
	pf := publish.Flags()
	pf.StringVar(&o.Channel, "channel", "stable", "release channel")
	pf.StringVar(&o.Version, "version", "", "version of the binaries (required)")
	pf.StringArrayVar(&files, "file", nil, "os/arch=PATH of a binary, or windows/ARCH-msi=PATH of the MSI install.ps1 downloads (repeatable)")
	pf.StringVar(&dist, "dist", "", "publish every agent binary and MSI of --version that 'make dist' wrote to this directory")
	pf.Float64Var(&o.Rollout, "rollout", 100, "percent of machines offered the release: 0 (nobody yet; raise it later by publishing again) to 100")
	pf.BoolVar(&o.AllowOlder, "allow-older", false, "publish a version older than the channel's current one (its machines keep the newer one; new installs get this one)")
	pf.DurationVar(&o.Expires, "expires", 30*24*time.Hour, "manifest lifetime (agents refuse an expired manifest)")
	pf.StringVar(&o.Notes, "notes", "", "release notes")
	return publish
}

func releasesListCmd(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "Show each channel's release and the agent versions machines run", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				info, err := cl.Releases(ctx)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), info, func(tw *tabwriter.Writer) { printReleases(tw, info) })
			})
		},
	}
}

// printReleases renders each channel's release, the agent versions in
// use (newest first) and the recent self-updates.
func printReleases(tw *tabwriter.Writer, info wire.ReleasesInfo) {
	fmt.Fprintln(tw, "CHANNEL\tVERSION\tROLLOUT\tBINARIES\tEXPIRES")
	for _, raw := range info.Channels {
		var m release.Manifest
		if json.NewDecoder(bytes.NewReader(raw)).Decode(&m) == nil {
			rollout := fmt.Sprintf("%g%%", m.Rollout)
			if m.Paused {
				rollout += " PAUSED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.Channel, m.Version, rollout, len(m.Artifacts), m.Expires.Format("2006-01-02"))
		}
	}
	fmt.Fprintln(tw, "\nAGENT VERSION\tMACHINES")
	versions := slices.Collect(maps.Keys(info.Versions))
	slices.SortFunc(versions, func(a, b string) int { return version.Compare(b, a) })
	for _, v := range versions {
		fmt.Fprintf(tw, "%s\t%d\n", v, info.Versions[v])
	}
	if len(info.Updates) > 0 {
		fmt.Fprintln(tw, "\nRECENT SELF-UPDATES\tMACHINE\tFROM\tTO\tOUTCOME\tREASON")
		for _, u := range info.Updates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.At.Local().Format(time.DateTime), u.Machine, u.From, u.To, outcome(u.State), u.Reason)
		}
	}
}

// releasesPauseCmd is `pause CHANNEL` (pause) or `resume CHANNEL`.
func releasesPauseCmd(c *conn, pause bool) *cobra.Command {
	use, short := "resume CHANNEL", "Resume a paused rollout"
	if pause {
		use, short = "pause CHANNEL", "Pause a channel's rollout: agents stop updating (new installs still get it)"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.PauseRollout(ctx, args[0], pause); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], strings.Fields(use)[0]+"d")
				return nil
			})
		},
	}
}
