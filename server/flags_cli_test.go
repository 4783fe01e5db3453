package main

import (
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// `flags set` decodes its rules before sending them, so it must refuse a
// key given twice itself: re-encoded, the server would never see it.
func TestFlagsSetRefusesRepeatedRuleKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "" for accepted
	}{
		{"a rule", []string{"--rule", `{"tags":["env:prod"],"value":true}`}, ""},
		{"a rule with value twice", []string{"--rule", `{"value":false,"tags":["env:prod"],"value":true}`}, "--rule 1"},
		{"rules with tags twice", []string{"--rules", `[{"tags":["a"],"tags":[],"value":true}]`}, "--rules"},
		{"a rule in upper case", []string{"--rule", `{"VALUE":true}`}, "--rule 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := flagsSetCmd(&conn{})
			if err := cmd.Flags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var o flagOptions
			o.ruleArgs, _ = cmd.Flags().GetStringArray("rule")
			o.rulesJSON, _ = cmd.Flags().GetString("rules")
			f := wire.Flag{Key: "k"}
			err := o.apply(cmd.Flags(), &f)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("apply = %v, want %q", err, tc.want)
			}
		})
	}
}
