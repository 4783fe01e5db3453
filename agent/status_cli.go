package main

// `wirefleet-agent status`: what the running agent reports over its
// control socket (or, when it is not running, what its state directory
// says), as text or JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/state"
)

func statusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show enrollment, tunnel and peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := g.paths()
			var st engine.Status
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := control.Status(ctx, p.ControlSocket(), &st); errors.Is(err, control.ErrDenied) {
				return err // not "not running": the agent may well run
			} else if err != nil {
				st = offlineStatus(g, p)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(out, st, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func offlineStatus(g *globals, p paths.Paths) engine.Status {
	st := engine.Status{Running: false, Tunnel: "down", Version: Version, Peers: nil, StateDir: p.State}
	if ks, err := keystore.Open(p.State, slog.New(slog.DiscardHandler)); err == nil {
		st.Keystore = ks.Backend()
	}
	if cfg, err := state.LoadConfig(p.ConfigFile()); err == nil {
		st.Enrolled, st.Revoked = !cfg.Revoked, cfg.Revoked
		st.Server, st.Machine, st.MachineID, st.IPv4, st.IPv6 = cfg.Server, cfg.Name, cfg.MachineID, cfg.IPv4, cfg.IPv6
		st.Channel = cfg.EffectiveChannel("")
	} else if errors.Is(err, state.ErrCorrupt) {
		st.LastError = err.Error()
	}
	st.Update = engine.UpdateState(p.State)
	return st
}

// printStatus renders st as the aligned text `status` prints; ages are
// relative to now, and times are shown in now's location.
func printStatus(w interface{ Write([]byte) (int, error) }, st engine.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := "not enrolled"
	switch {
	case st.Revoked:
		state = "revoked by an admin (secrets wiped; enroll again to rejoin)"
	case st.Enrolled:
		state = "enrolled"
	}
	running := "not running"
	if st.Running {
		running = "running"
	}
	fmt.Fprintf(tw, "machine:\t%s (%s)\n", orDash(st.Machine), state)
	if !st.Enrolled && !st.Revoked && st.StateDir != "" && st.LastError == "" {
		fmt.Fprintf(tw, "hint:\tnothing is enrolled in %s; if you enrolled with --state-dir DIR, give it here too (wirefleet-agent status --state-dir DIR)\n", st.StateDir)
	}
	fmt.Fprintf(tw, "server:\t%s\n", orDash(st.Server))
	fmt.Fprintf(tw, "agent:\t%s, version %s\n", running, st.Version)
	if st.Channel != "" {
		fmt.Fprintf(tw, "channel:\t%s\n", st.Channel)
	}
	if t := st.Update.Trial; t != nil {
		fmt.Fprintf(tw, "update:\ton trial: %s → %s, start %d of %d, must reach the server by %s (else rolled back)\n",
			t.From, t.To, t.Starts, t.MaxStarts, t.Deadline.In(now.Location()).Format(time.DateTime))
	}
	if l := st.Update.Last; l != nil {
		what := map[string]string{"ok": "succeeded", "rolled_back": "failed and was rolled back", "failed": "refused"}[l.State]
		line := fmt.Sprintf("%s → %s %s %s", l.From, l.To, what, l.At.In(now.Location()).Format(time.DateTime))
		if l.Reason != "" {
			line += ": " + l.Reason
		}
		fmt.Fprintf(tw, "last update:\t%s\n", line)
	}
	fmt.Fprintf(tw, "addresses:\t%s %s\n", orDash(st.IPv4), st.IPv6)
	if st.TunnelError != "" {
		fmt.Fprintf(tw, "tunnel:\tdown, cannot be created (retrying): %s\n", st.TunnelError)
	} else if st.WireGuard != "" {
		fmt.Fprintf(tw, "tunnel:\t%s %s (%s WireGuard)\n", st.Tunnel, st.Interface, st.WireGuard)
		if st.IPv6Off {
			fmt.Fprintf(tw, "ipv6:\toff on this host (disabled by sysctl or at boot): the tunnel carries IPv4 only\n")
		}
	} else {
		fmt.Fprintf(tw, "tunnel:\t%s %s\n", st.Tunnel, st.Interface)
	}
	fmt.Fprintf(tw, "secrets:\t%s keystore\n", st.Keystore)
	if k := st.Key; k != nil {
		every := "only when an admin asks"
		if k.RotateEvery > 0 {
			every = "every " + fmtAge(k.RotateEvery)
		}
		line := fmt.Sprintf("%s, %s old, rotates %s", k.PublicKey, fmtAge(now.Sub(k.CreatedAt)), every)
		if k.Pending != "" {
			line += "; rotation pending: " + k.Pending
		}
		fmt.Fprintf(tw, "wireguard key:\t%s\n", line)
	}
	if st.LastSync != nil {
		fmt.Fprintf(tw, "last sync:\t%s ago (map version %d)\n", now.Sub(*st.LastSync).Round(time.Second), st.MapVer)
	}
	if st.LastError != "" {
		fmt.Fprintf(tw, "last error:\t%s\n", st.LastError)
	}
	switch a := st.Access; {
	case a == nil && st.Running:
		fmt.Fprintf(tw, "access:\tno policy: every peer may connect to any port\n")
	case a != nil && a.Note != "":
		fmt.Fprintf(tw, "access:\tpolicy v%d, %s\n", a.Policy, a.Note)
	case a != nil:
		fmt.Fprintf(tw, "access:\tpolicy v%d, %d inbound rule(s); dropped %d packets (%d not allowed, %d replies to nothing), %d flows tracked\n",
			a.Policy, len(a.Rules), a.Dropped, a.Denied, a.Unmatched, a.Flows)
		if len(a.Rules) == 0 {
			fmt.Fprintf(tw, "\tnobody may open connections to this machine\n")
		}
		for _, r := range a.Rules {
			fmt.Fprintf(tw, "\t%s\n", r)
		}
		if n := len(a.LastDrops); n > 0 {
			fmt.Fprintf(tw, "last drop:\t%s\n", a.LastDrops[n-1])
		}
	}
	if d := st.DNS; d != nil {
		line := d.Domain
		switch {
		case d.Error != "":
			line += ": " + d.Error
		case d.Resolver == "":
			line += ": not answering (" + orDash(d.Note) + ")"
		default:
			line += fmt.Sprintf(": %d names at %s, system resolver: %s; %d queries (%d answered, %d NXDOMAIN, %d refused)",
				d.Names, d.Resolver, orDash(d.OS), d.Queries, d.Answered, d.NXDomain, d.Refused)
		}
		fmt.Fprintf(tw, "dns:\t%s\n", line)
	}
	if r := st.Routes; r != nil {
		printRoutes(tw, r)
	}
	if s := st.SSH; s != nil {
		switch {
		case s.On:
			fmt.Fprintf(tw, "ssh:	listening on %s for logins the policy allows; %d open session(s)\n", strings.Join(s.Listen, ", "), s.Sessions)
		case s.Error != "":
			fmt.Fprintf(tw, "ssh:	not listening: %s\n", s.Error)
		default:
			fmt.Fprintf(tw, "ssh:	starting\n")
		}
	}
	if st.Paths != nil && st.Paths.PeerRelay != nil {
		pr := st.Paths.PeerRelay
		fmt.Fprintf(tw, "peer relay:\t%d sessions, %d packets (%d bytes) forwarded, %d dropped\n", pr.Sessions, pr.Forwarded, pr.Bytes, pr.Dropped)
	}
	if f := st.Flags; f != nil {
		fresh := "fresh"
		if f.Stale {
			fresh = fmt.Sprintf("stale %ds", f.StaleSeconds)
		}
		fmt.Fprintf(tw, "flags:\t%d flags, version %d, from %s, %s\n", f.Flags, f.Version, f.Source, fresh)
	}
	tw.Flush()
	if len(st.Peers) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nPEER\tADDRESSES\tENDPOINT\tPATH\tHANDSHAKE\tRX\tTX")
		for _, p := range st.Peers {
			hs := "never"
			if !p.LastHandshake.IsZero() {
				hs = now.Sub(p.LastHandshake).Round(time.Second).String() + " ago"
			}
			path := orDash(p.Path) // direct, peer-relay (ENDPOINT is the relay's) or relay
			if p.State == "idle" {
				path += " (idle)" // a lazy peer, configured again on its first packet
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", orDash(p.Name), strings.Join(p.AllowedIPs, ","), orDash(p.Endpoint), path, hs, p.RxBytes, p.TxBytes)
		}
		tw.Flush()
	}
}

// printRoutes renders what the machine advertises, carries and uses of
// the fleet's routes.
func printRoutes(tw *tabwriter.Writer, r *engine.RoutesView) {
	if len(r.Advertised) > 0 || r.Exit {
		adv := strings.Join(r.Advertised, ", ")
		if r.Exit {
			adv = strings.TrimPrefix(adv+", an exit node", ", ")
		}
		var waiting []string
		for _, p := range r.Advertised {
			if !slices.Contains(r.Serving, p) {
				waiting = append(waiting, p)
			}
		}
		if len(waiting) > 0 {
			adv += " (not approved yet: " + strings.Join(waiting, ", ") + ")"
		}
		fmt.Fprintf(tw, "advertises:\t%s\n", adv)
	}
	if len(r.Serving) > 0 {
		nat := "source NAT to this machine's address"
		if !r.SNAT {
			nat = "without source NAT"
		}
		fmt.Fprintf(tw, "routes for the fleet:\t%s, %s\n", strings.Join(r.Serving, ", "), nat)
	}
	if r.Failing != "" {
		fmt.Fprintf(tw, "route check:\tfailing (a standby only): %s\n", r.Failing)
	}
	if r.ExitNode != "" {
		fmt.Fprintf(tw, "exit node:\t%s\n", r.ExitNode)
	}
	for i, u := range r.Using {
		label := ""
		if i == 0 {
			label = "routes:"
		}
		line := u.Prefix.String()
		switch {
		case u.Skipped != "":
			line += " not used: " + u.Skipped
		default:
			line += " via " + orDash(u.ViaName)
			if u.Failover {
				line += " (the primary stopped answering)"
			}
			if len(u.Standby) > 0 {
				line += fmt.Sprintf(", %d standby", len(u.Standby))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, line)
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "routes error:\t%s\n", r.Error)
	}
}

// fmtAge writes a duration in days past two days, else rounded to a minute.
func fmtAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
