package main

// `wirefleet-server flows`: the flow logs agents send.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/pkg/client"
)

func flowsCmd() *cobra.Command {
	c := &conn{}
	var f client.FlowFilter
	var since time.Duration
	var port uint16
	var jsonl bool
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Show flow records (who talked to whom, and what the policy refused), newest first",
		Long: "Flow records come from the agents the policy's \"flowLogs\" names: one per connection per interval\n" +
			"(addresses, ports, packets and bytes each way, the path, the verdict), and one per refused attempt.\n" +
			"--jsonl prints one JSON record per line, for a SIEM.",
		Example: "  wirefleet-server flows --machine db-1 --since 1h\n  wirefleet-server flows --verdict denied --port 22\n" +
			"  wirefleet-server flows --since 24h --jsonl > flows.jsonl",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Port = port
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			return c.do(cmd, func(ctx context.Context, cl *client.Client) error {
				if jsonl {
					return flowsJSONL(ctx, cmd, cl, f)
				}
				page, err := cl.Flows(ctx, f)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), page, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "END\tPROTO\tSRC\tDST\tSENT\tRECEIVED\tPATH\tVERDICT\tRULE")
					for _, r := range page.Records {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d B / %d pkts\t%d B / %d pkts\t%s\t%s\t%s\n", r.End.Local().Format("2006-01-02 15:04:05"), r.Proto,
							endpoint(r.Src, r.SrcPort), endpoint(r.Dst, r.DstPort), r.TxBytes, r.TxPackets, r.RxBytes, r.RxPackets, or(r.Path, "-"), r.Verdict, r.Rule)
					}
					if page.Next != "" {
						fmt.Fprintf(tw, "(more: --cursor %s)\n", page.Next)
					}
				})
			})
		},
	}
	c.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.Machine, "machine", "", "a machine (name or ID) at either end")
	fl.StringVar(&f.Addr, "addr", "", "an overlay address at either end")
	fl.Uint16Var(&port, "port", 0, "the destination port")
	fl.StringVar(&f.Verdict, "verdict", "", "allowed or denied")
	fl.DurationVar(&since, "since", 0, "only records of the last … (1h, 24h)")
	fl.IntVar(&f.Limit, "limit", 50, "records per page (1–1000)")
	fl.StringVar(&f.Cursor, "cursor", "", "the page after this cursor (printed at the end of a page)")
	fl.BoolVar(&jsonl, "jsonl", false, "every matching record, one JSON object per line (all pages)")
	return cmd
}

// flowsJSONL writes every matching record as a JSON line, page by page.
func flowsJSONL(ctx context.Context, cmd *cobra.Command, cl *client.Client, f client.FlowFilter) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	f.Limit = 1000
	for {
		page, err := cl.Flows(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		f.Cursor = page.Next
	}
}

func endpoint(addr string, port uint16) string {
	if port == 0 {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(int(port)))
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
