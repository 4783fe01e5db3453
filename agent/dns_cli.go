package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/dnsconfig"
	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
)

// dnsManager is the OS resolver configuration kept under the state dir.
func dnsManager(p paths.Paths, log *slog.Logger) *dnsconfig.Manager {
	return &dnsconfig.Manager{Dir: filepath.Join(p.State, "dns"), Log: log}
}

func dnsCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "dns", Short: "The fleet's names: ask the agent's resolver"}
	query := &cobra.Command{
		Use:   "query NAME [TYPE]",
		Short: "Ask the agent's resolver for NAME (A, AAAA, PTR for an address, …) and show its answer",
		Example: `  wirefleet-agent dns query web-1.fleet.internal
  wirefleet-agent dns query web-1                  (the fleet domain is added)
  wirefleet-agent dns query 100.64.0.7             (reverse lookup)`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var st engine.Status
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := control.Status(ctx, g.paths().ControlSocket(), &st); err != nil {
				if errors.Is(err, control.ErrDenied) {
					return err
				}
				return fmt.Errorf("the agent is not running (%v)", err)
			}
			if st.DNS == nil {
				return errors.New("names are off on this machine (--accept-dns=false)")
			}
			if st.DNS.Resolver == "" {
				return fmt.Errorf("the agent's resolver is not answering: %s", orDash(st.DNS.Note+st.DNS.Error))
			}
			q, err := dnsQuestion(args, st.DNS.Domain)
			if err != nil {
				return err
			}
			c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
			resp, rtt, err := c.ExchangeContext(ctx, q, st.DNS.Resolver)
			if err == nil && resp.Truncated {
				c.Net = "tcp"
				resp, rtt, err = c.ExchangeContext(ctx, q, st.DNS.Resolver)
			}
			if err != nil {
				return fmt.Errorf("query %s: %w", st.DNS.Resolver, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, ";; %s from %s in %v\n", dns.RcodeToString[resp.Rcode], st.DNS.Resolver, rtt.Round(time.Microsecond))
			for _, rr := range resp.Answer {
				fmt.Fprintln(out, rr.String())
			}
			switch resp.Rcode {
			case dns.RcodeNameError:
				fmt.Fprintf(out, "no machine named %s that this machine may see\n", strings.TrimSuffix(q.Question[0].Name, "."))
			case dns.RcodeRefused:
				fmt.Fprintf(out, "not a fleet name (%s): the system's own resolvers answer it\n", st.DNS.Domain)
			}
			return nil
		},
	}
	root.AddCommand(query)
	return root
}

// dnsQuestion builds the query: an address asks for its PTR, a bare name
// gets the fleet domain.
func dnsQuestion(args []string, domain string) (*dns.Msg, error) {
	name, qtype := args[0], dns.TypeA
	if len(args) == 2 {
		t, ok := dns.StringToType[strings.ToUpper(args[1])]
		if !ok {
			return nil, fmt.Errorf("unknown record type %q (A, AAAA, PTR, SOA, ANY…)", args[1])
		}
		qtype = t
	}
	if r, err := dns.ReverseAddr(name); err == nil {
		name, qtype = r, dns.TypePTR
	} else if !strings.Contains(strings.TrimSuffix(name, "."), ".") && domain != "" {
		name += "." + domain
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%q is not a DNS name", name)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m, nil
}
