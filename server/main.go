// Command wirefleet-server is the Wirefleet coordination server: it enrolls
// machines, hands out overlay addresses and network maps, and serves the
// admin API. Its admin subcommands talk to the running server, so every
// change goes through it and wakes the agents it affects.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/config"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
)

func main() {
	root := rootCmd()
	if err := root.Execute(); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			fmt.Fprintf(os.Stderr, "error: %s (%s)\n", we.Message, we.Code)
		} else {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "wirefleet-server",
		Short:         "Wirefleet coordination server: enrollment, network maps and the admin API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       daemon.Version,
	}
	root.AddCommand(serveCmd(), tokensCmd(), machinesCmd(), apikeysCmd(), adminCmd(), auditCmd(), oneLinerCmd(), flagsCmd(), releasesCmd(), policyCmd(), routesCmd(), flowsCmd(), dnsCmd(), tlsCmd(), secretsCmd(), enrollmentsCmd(), directoryCmd(), scimCmd(), teamsCmd(), clientsCmd(), backupCmd(), restoreCmd(), doctorCmd(), openapiCmd(), sshCmd())
	return root
}

// defaultDataDir is where a packaged server keeps its state.
const defaultDataDir = "/var/lib/wirefleet"

func serveCmd() *cobra.Command {
	var (
		o             daemon.Options
		cfgFile       string
		logLevel      string
		logFormat     string
		relayOn       bool
		passwordLogin bool
		fallbackUntil string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server. Settings come from flags, then WIREFLEET_* environment
variables (--data-dir → WIREFLEET_DATA_DIR), then the YAML file named by
--config (keys are the flag names).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Apply(cmd.Flags(), cfgFile); err != nil {
				return err
			}
			o.NoRelay = !relayOn
			o.NoPasswordLogin = !passwordLogin
			if fallbackUntil != "" {
				day, err := time.Parse(time.DateOnly, fallbackUntil)
				if err != nil {
					return fmt.Errorf("--plain-fallback-until %q: want a date, YYYY-MM-DD", fallbackUntil)
				}
				o.PlainFallbackUntil = day.Add(24*time.Hour - time.Nanosecond) // to the end of that day, UTC
			}
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			o.Logger = log
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return daemon.Run(ctx, o, os.Stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", os.Getenv(config.EnvName("config")), "YAML config file")
	f.StringVar(&o.Listen, "listen", ":8443", "TCP address to serve agents and admins on")
	f.StringVar(&o.DataDir, "data-dir", defaultDataDir, "state directory (database, TLS key, admin socket)")
	f.StringVar(&o.DB, "db", "", "database URL (default sqlite://<data-dir>/wirefleet.db; postgres://… for replicas)")
	f.BoolVar(&o.InsecureHTTP, "insecure-http", false, "serve plain HTTP (tests, or behind a TLS-terminating proxy)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate (PEM); default: a self-signed one kept in the data dir")
	f.DurationVar(&o.TLSRotateEvery, "tls-rotate-every", 0, "rotate the self-signed TLS key when it is this old (e.g. 2160h), once every active agent holds the announced next key (0: only with the 'tls rotate' command)")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.StringSliceVar(&o.ACME.Domains, "acme-domain", nil, "obtain and renew the certificate for this public DNS name from an ACME CA (Let's Encrypt by default; accepts its terms): one-liners then carry no pin. The CA validates over TLS on port 443 of the name, which must reach --listen (comma-separated for several names)")
	f.StringVar(&o.ACME.Email, "acme-email", "", "e-mail address the ACME CA may send expiry notices to")
	f.StringVar(&o.ACME.DirectoryURL, "acme-directory", tlsutil.LetsEncrypt, "the ACME CA's directory URL (e.g. a private step-ca)")
	f.StringVar(&o.ACME.CAFile, "acme-ca-file", "", "PEM roots to trust the ACME directory's own certificate with (a private CA); default the system's")
	f.StringVar(&o.ExternalURL, "external-url", "", "URL agents reach this server at (default https://<hostname>:<port>)")
	f.Float64Var(&o.EnrollRate, "enroll-rate", 30, "enrollment attempts allowed per minute per source IP (0 = unlimited)")
	f.IntVar(&o.EnrollBurst, "enroll-burst", 30, "burst of enrollment attempts allowed per source IP")
	f.DurationVar(&o.LongPoll, "long-poll", 60*time.Second, "how long a network-map poll is held when nothing changes")
	f.DurationVar(&o.MachineExpiry, "machine-expiry", 0, "how long a machine stays enrolled before it must re-authenticate with a token (e.g. 4320h = 180 days; 0 = never; a token's --machine-expiry wins)")
	f.DurationVar(&o.EphemeralTTL, "ephemeral-ttl", 30*time.Minute, "remove ephemeral machines offline for this long (0 = never)")
	f.DurationVar(&o.AuditRetention, "audit-retention", 365*24*time.Hour, "delete audit events older than this (default a year; 0 = keep them all)")
	f.DurationVar(&o.FlowRetention, "flow-retention", 30*24*time.Hour, "delete flow records, SSH sessions and their recordings older than this (default 30 days; 0 = flows by count only)")
	f.StringVar(&o.DeprovisionMachines, "deprovision-machines", "expire", "what happens to the machines of a person the directory (SCIM) deactivates or deletes: expire (out of every map until re-authenticated), revoke, or keep")
	f.Int64Var(&o.FlowMaxRecords, "flow-max-records", 10_000_000, "keep at most this many flow records, the oldest deleted first (0 = no bound)")
	f.StringVar(&o.FlowOTLPURL, "flow-otlp-url", "", "also send flow records to this OpenTelemetry collector as OTLP/HTTP logs (http://collector:4318)")
	f.StringToStringVar(&o.FlowOTLPHeaders, "flow-otlp-header", nil, "a header for the collector, KEY=VALUE (repeatable)")
	f.StringVar(&o.FlowJSONL, "flow-jsonl", "", "also append flow records to this file as JSON lines (\"-\": standard output), for a SIEM to tail")
	f.DurationVar(&o.TokenTTL, "token-ttl", 24*time.Hour, "default lifetime of enrollment tokens")
	f.BoolVar(&o.BootstrapToken, "bootstrap-token", false, "create a single-use enrollment token at start and print its one-liner")
	f.IntVar(&o.MaxConnsPerIP, "max-conns-per-ip", 1024, "connections one source address may hold open (agents behind one NAT each hold one; 0 = no cap)")
	f.StringVar(&o.DNSDomain, "dns-domain", "fleet.internal", "DNS domain of the fleet: every machine answers NAME.<domain> on its agent's resolver (off: no names; .internal is reserved for private use)")
	f.StringVar(&o.MemoryLimit, "memory-limit", "auto", "soft limit on the server's memory, where garbage collection works harder instead of the heap growing: auto (GOMEMLIMIT, else 90% of the cgroup's limit, else none), off, or a size such as 1.8GiB")
	f.StringVar(&o.MetricsListen, "metrics-listen", "", "also serve /metrics without authentication on this address, e.g. 127.0.0.1:9464 (keep it private)")
	f.StringVar(&o.OIDC.Issuer, "oidc-issuer", "", "sign admins in through this OpenID Connect provider (its issuer URL); the redirect URL to register there is <external URL>/sso/callback")
	f.StringVar(&o.OIDC.ClientID, "oidc-client-id", "", "the client ID registered at the provider")
	f.StringVar(&o.OIDC.ClientSecretFile, "oidc-client-secret-file", "", "file holding the client secret")
	f.StringSliceVar(&o.OIDC.AllowedDomains, "oidc-allowed-domains", nil, "admit verified e-mail addresses in these domains as admins (comma-separated)")
	f.StringSliceVar(&o.OIDC.AdminGroups, "oidc-admin-groups", nil, "admit members of these groups as admins (comma-separated)")
	f.StringSliceVar(&o.OIDC.MemberDomains, "oidc-member-domains", nil, "admit verified e-mail addresses in these domains as members, who may only approve the machines they add with 'wirefleet-agent enroll' (comma-separated)")
	f.StringSliceVar(&o.OIDC.MemberGroups, "oidc-member-groups", nil, "admit members of these groups as members (see --oidc-member-domains)")
	f.StringVar(&o.OIDC.GroupsClaim, "oidc-groups-claim", "groups", "the claim that lists a user's groups")
	f.BoolVar(&passwordLogin, "password-login", true, "allow admins to sign in to the page with a password (false: single sign-on only)")
	f.StringVar(&o.MetricsTokenFile, "metrics-token-file", "", "file holding a bearer token that may read /metrics on the main port (admin API keys may too)")
	f.StringVar(&o.ReleasesDir, "releases-dir", "", "where published releases are kept (default <data-dir>/releases; replicas share one)")
	f.StringVar(&o.PublishAgent, "publish-agent", "", "sign (keys in the data dir) and publish this agent binary for the host OS/arch at start")
	f.StringArrayVar(&o.PublishAlso, "publish-also", nil, "with --publish-agent: more files of that release, os/arch=PATH (the agent for other systems, windows/amd64-msi=PATH for install.ps1; repeatable)")
	f.StringVar(&o.STUNListen, "stun-listen", ":3478", "UDP address of the STUN responder agents learn their public address from (off: none)")
	f.StringVar(&o.STUNAdvertise, "stun-advertise", "", "host:port agents send STUN requests to (default: the external URL's host and the --stun-listen port)")
	f.BoolVar(&relayOn, "relay", true, "relay WireGuard packets over the HTTPS port for agents that cannot reach each other directly")
	f.Float64Var(&o.RelayRate, "relay-rate", 50e6, "bytes per second each machine may send through the relay")
	f.StringVar(&o.RelayMeshKeyFile, "relay-mesh-key-file", "", "with replicas on one PostgreSQL: a file (mode 600) with the key every replica shares, so that their relays forward to each other (one base64 key per line; make one with: head -c 32 /dev/urandom | base64)")
	f.StringVar(&o.ReplicaURL, "replica-url", "", "with --relay-mesh-key-file: where the other replicas reach this one directly, e.g. https://10.0.0.5:8443 (default: --listen's address, else this machine's first)")
	f.StringVar(&o.Secrets, "secrets", "auto", "how the server keeps its own secrets (TLS keys, release keys, SSO client secret, metrics token, relay mesh key): sealed (encrypted with a key-encryption key kept outside the data dir), plain, or auto (sealed, unless the data dir already holds plain ones: seal those with: secrets seal)")
	f.StringVar(&o.SecretsKEK.KeyFile, "secrets-key-file", "", "the key-encryption key's file (an age identity, mode 600; made at the first sealed start; default <data-dir>.kek beside the data dir). Keep it off the data dir's volume and out of its backups")
	f.StringVar(&o.SecretsKEK.PassphraseEnv, "secrets-passphrase-env", "", "environment variable holding a passphrase that unlocks the key-encryption key (kept wrapped in the data dir) instead of a key file")
	f.StringVar(&o.SecretsKEK.PassphraseFile, "secrets-passphrase-file", "", "file holding that passphrase")
	f.StringVar(&o.SecretsKEK.Credential, "secrets-credential", "wirefleet-kek", "the systemd credential (LoadCredentialEncrypted=NAME:…) that holds the key-encryption key; used when present in $CREDENTIALS_DIRECTORY")
	f.StringVar(&fallbackUntil, "plain-fallback-until", "", "YYYY-MM-DD: after that day plain secrets are refused (a plain data dir does not start; secret files given by flags are refused once sealed)")
	f.DurationVar(&o.MaxSecretAge, "max-secret-age", daemon.DefaultMaxSecretAge, "secrets status and doctor warn about a secret not rotated for this long")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
