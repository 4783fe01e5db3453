package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/pkg/flageval"
)

// defaultFlagsListen is the local OFREP endpoint. Port 8016 is flagd's
// OFREP port, so OpenFeature OFREP providers find it with little config.
const defaultFlagsListen = "127.0.0.1:8016"

// evaluation is one flag as the CLI prints it (the OFREP result shape).
type evaluation struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant,omitempty"`
	Metadata map[string]any  `json:"metadata"`
}

// fetchFlags asks the agent of this state directory, through its control
// socket (never a TCP port some other program may hold); when that agent
// is not running it evaluates from its on-disk cache (reason CACHED).
func fetchFlags(g *globals, key string) ([]evaluation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := "/ofrep/v1/evaluate/flags"
	if key != "" {
		path += "/" + url.PathEscape(key)
	}
	status, body, err := control.Post(ctx, g.paths().ControlSocket(), path, []byte(`{"context":{}}`))
	if err == nil {
		switch {
		case status == http.StatusNotFound:
			return nil, fmt.Errorf("no flag %q", key)
		case status != http.StatusOK:
			return nil, fmt.Errorf("the agent's flag endpoint: HTTP %d: %s", status, strings.TrimSpace(string(body)))
		case key != "":
			var e evaluation
			return []evaluation{e}, json.Unmarshal(body, &e)
		default:
			var all struct{ Flags []evaluation }
			return all.Flags, json.Unmarshal(body, &all)
		}
	}
	set, _, savedAt, ok, err := flags.LoadCache(g.paths().FlagCache())
	if err != nil {
		return nil, fmt.Errorf("the agent is not running and its flag cache is unusable: %w", err)
	}
	if !ok {
		return nil, errors.New("the agent is not running and has no cached flags yet")
	}
	var out []evaluation
	for _, f := range set.Flags {
		if key != "" && f.Key != key {
			continue
		}
		r := flageval.Evaluate(f, set.Machine, "")
		out = append(out, evaluation{Key: f.Key, Value: r.Value, Reason: flags.ReasonCached, Variant: r.Variant, Metadata: map[string]any{
			"evaluationReason": r.Reason, "stale": true, "staleSeconds": int64(time.Since(savedAt).Seconds()), "source": "cache (agent not running)",
		}})
	}
	if key != "" && len(out) == 0 {
		return nil, fmt.Errorf("no flag %q", key)
	}
	return out, nil
}

func flagsCmd(g *globals) *cobra.Command {
	var asJSON bool
	show := func(cmd *cobra.Command, evs []evaluation, one bool) error {
		out := cmd.OutOrStdout()
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			if one {
				return enc.Encode(evs[0])
			}
			return enc.Encode(evs)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tVALUE\tREASON\tFRESHNESS")
		for _, e := range evs {
			fresh := fmt.Sprint(e.Metadata["source"])
			if st, _ := e.Metadata["stale"].(bool); st {
				fresh += fmt.Sprintf(", stale %vs", e.Metadata["staleSeconds"])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Key, e.Value, e.Reason, fresh)
		}
		return tw.Flush()
	}
	list := &cobra.Command{
		Use: "list", Short: "Evaluate every flag for this machine", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			evs, err := fetchFlags(g, "")
			if err != nil {
				return err
			}
			return show(cmd, evs, false)
		},
	}
	get := &cobra.Command{
		Use: "get KEY", Short: "Evaluate one flag for this machine", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			evs, err := fetchFlags(g, args[0])
			if err != nil {
				return err
			}
			if !asJSON {
				// Scripts want the bare value: `if [ "$(wirefleet-agent flags get x)" = true ]`.
				fmt.Fprintln(cmd.OutOrStdout(), strings.Trim(string(evs[0].Value), `"`))
				return nil
			}
			return show(cmd, evs, true)
		},
	}
	cmd := &cobra.Command{Use: "flags", Short: "Feature flags served to applications on this machine (OFREP on --flags-listen)"}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON (the OFREP result, with reason and staleness)")
	cmd.AddCommand(list, get)
	return cmd
}
