package flageval

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func pct(p float64) *float64 { return &p }

func TestEvaluateRules(t *testing.T) {
	web := wire.MachineFacts{ID: "m_web", Name: "web-1", Tags: []string{"env:prod", "web"}, OS: "linux", Arch: "amd64", AgentVersion: "1.4.2"}
	mac := wire.MachineFacts{ID: "m_mac", Name: "laptop", Tags: []string{"env:dev"}, OS: "darwin", Arch: "arm64", AgentVersion: "1.2.0"}
	dev := wire.MachineFacts{ID: "m_dev", Name: "ci", OS: "linux", Arch: "amd64", AgentVersion: "dev"}
	f := wire.Flag{Key: "new-ui", Type: wire.FlagString, Enabled: true, Default: json.RawMessage(`"off"`), Rules: []wire.FlagRule{
		{Names: []string{"laptop"}, Value: json.RawMessage(`"named"`), Variant: "named"},
		{Tags: []string{"env:prod"}, OS: []string{"linux"}, MinVersion: "1.4.0", Value: json.RawMessage(`"prod-new"`)},
		{Arch: []string{"arm64"}, MaxVersion: "1.3", Value: json.RawMessage(`"old-arm"`)},
	}}
	for _, tc := range []struct {
		name   string
		flag   wire.Flag
		m      wire.MachineFacts
		value  string
		reason string
		rule   int
	}{
		{"name match wins first", f, mac, `"named"`, ReasonTarget, 0},
		{"tag+os+min version", f, web, `"prod-new"`, ReasonTarget, 1},
		{"dev version never meets a minimum", f, dev, `"off"`, ReasonDefault, -1},
		{"disabled returns the default", func() wire.Flag { g := f; g.Enabled = false; return g }(), web, `"off"`, ReasonDisabled, -1},
		{"no rules is static", wire.Flag{Key: "x", Type: wire.FlagBoolean, Enabled: true, Default: json.RawMessage(`true`)}, web, `true`, ReasonStatic, -1},
		{"below max version", wire.Flag{Key: "y", Type: wire.FlagString, Enabled: true, Default: json.RawMessage(`"d"`),
			Rules: []wire.FlagRule{{Arch: []string{"arm64"}, MaxVersion: "1.3", Value: json.RawMessage(`"v"`)}}}, mac, `"v"`, ReasonTarget, 0},
		{"100% split admits everyone", wire.Flag{Key: "z", Type: wire.FlagBoolean, Enabled: true, Default: json.RawMessage(`false`),
			Rules: []wire.FlagRule{{Percentage: pct(100), Value: json.RawMessage(`true`)}}}, dev, `true`, ReasonSplit, 0},
		{"0% split admits nobody", wire.Flag{Key: "z", Type: wire.FlagBoolean, Enabled: true, Default: json.RawMessage(`false`),
			Rules: []wire.FlagRule{{Percentage: pct(0), Value: json.RawMessage(`true`)}}}, dev, `false`, ReasonDefault, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.flag, tc.m, "")
			if string(r.Value) != tc.value || r.Reason != tc.reason || r.Rule != tc.rule {
				t.Fatalf("got %s %s rule %d, want %s %s rule %d", r.Value, r.Reason, r.Rule, tc.value, tc.reason, tc.rule)
			}
		})
	}
}

func TestPercentageRolloutDistributionAndStability(t *testing.T) {
	flag := func(p float64) wire.Flag {
		return wire.Flag{Key: "rollout", Type: wire.FlagBoolean, Enabled: true, Default: json.RawMessage(`false`),
			Rules: []wire.FlagRule{{Percentage: pct(p), Value: json.RawMessage(`true`)}}}
	}
	const n = 10000
	in30 := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("m_%05d", i)
		if string(Evaluate(flag(30), wire.MachineFacts{ID: id}, "").Value) == "true" {
			in30[id] = true
		}
	}
	if got := float64(len(in30)) / n * 100; math.Abs(got-30) > 2 {
		t.Fatalf("30%% rollout admitted %.2f%% of %d machines", got, n)
	}
	in40 := 0
	for i := range n {
		id := fmt.Sprintf("m_%05d", i)
		on := string(Evaluate(flag(40), wire.MachineFacts{ID: id}, "").Value) == "true"
		if in30[id] && !on {
			t.Fatalf("%s was in at 30%% and out at 40%%", id)
		}
		if on {
			in40++
		}
	}
	if got := float64(in40) / n * 100; math.Abs(got-40) > 2 {
		t.Fatalf("40%% rollout admitted %.2f%%", got)
	}
}

func TestValidate(t *testing.T) {
	ok := wire.Flag{Key: "a.b-c_1", Type: wire.FlagObject, Default: json.RawMessage(`{"x":1}`),
		Rules: []wire.FlagRule{{Value: json.RawMessage(`{}`), MinVersion: "1.2", Percentage: pct(50)}}}
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	// At the limits: 32 levels, brackets inside strings do not count.
	deep := wire.Flag{Key: "k", Type: wire.FlagObject, Description: "Größe ≤ 32 — fine",
		Default: json.RawMessage(strings.Repeat(`{"a":`, 32) + `"[[[[{{{{\"]]"` + strings.Repeat("}", 32))}
	if err := Validate(deep); err != nil {
		t.Fatalf("32 levels with brackets in a string: %v", err)
	}
	for name, f := range map[string]wire.Flag{
		"bad key":        {Key: "Bad Key", Type: wire.FlagBoolean, Default: json.RawMessage(`true`)},
		"script key":     {Key: "<script>", Type: wire.FlagBoolean, Default: json.RawMessage(`true`)},
		"bad type":       {Key: "k", Type: "date", Default: json.RawMessage(`1`)},
		"default type":   {Key: "k", Type: wire.FlagBoolean, Default: json.RawMessage(`"yes"`)},
		"missing value":  {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{}}},
		"rule type":      {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{Value: json.RawMessage(`"1"`)}}},
		"percent > 100":  {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{Value: json.RawMessage(`2`), Percentage: pct(101)}}},
		"bad version":    {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{Value: json.RawMessage(`2`), MinVersion: "latest"}}},
		"object default": {Key: "k", Type: wire.FlagObject, Default: json.RawMessage(`[1]`)},
		// Found by hostile testing: accepted before.
		"5,000-deep default":         {Key: "k", Type: wire.FlagObject, Default: json.RawMessage(strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000))},
		"33-deep default":            {Key: "k", Type: wire.FlagObject, Default: json.RawMessage(strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33))},
		"20 KiB default":             {Key: "k", Type: wire.FlagString, Default: json.RawMessage(`"` + strings.Repeat("x", 20<<10) + `"`)},
		"description with CR/LF":     {Key: "k", Type: wire.FlagBoolean, Default: json.RawMessage(`true`), Description: "fine\r\nforged"},
		"description with RLO":       {Key: "k", Type: wire.FlagBoolean, Default: json.RawMessage(`true`), Description: "\u202etxt.exe"},
		"description of 501 bytes":   {Key: "k", Type: wire.FlagBoolean, Default: json.RawMessage(`true`), Description: strings.Repeat("d", 501)},
		"rule tag with a newline":    {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{Value: json.RawMessage(`2`), Tags: []string{"env\nprod"}}}},
		"a key twice in the default": {Key: "k", Type: wire.FlagObject, Default: json.RawMessage(`{"mode":"safe","mode":"unsafe"}`)},
		"a key twice in a rule":      {Key: "k", Type: wire.FlagObject, Default: json.RawMessage(`{}`), Rules: []wire.FlagRule{{Value: json.RawMessage(`{"a":{"b":1,"b":2}}`)}}},
		"rule variant with a RLO":    {Key: "k", Type: wire.FlagNumber, Default: json.RawMessage(`1`), Rules: []wire.FlagRule{{Value: json.RawMessage(`2`), Variant: "\u202eon"}}},
	} {
		if err := Validate(f); wire.ErrorCode(err) != wire.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	f := wire.Flag{Key: "new-ui", Type: wire.FlagString, Enabled: true, Default: json.RawMessage(`"off"`), Rules: []wire.FlagRule{
		{Names: []string{"laptop"}, Value: json.RawMessage(`"named"`)},
		{Tags: []string{"env:prod"}, OS: []string{"linux"}, MinVersion: "1.4.0", Value: json.RawMessage(`"prod"`)},
		{Percentage: pct(30), Value: json.RawMessage(`"rollout"`)},
	}}
	m := wire.MachineFacts{ID: "m_x", Name: "web-1", Tags: []string{"env:dev"}, OS: "linux", Arch: "amd64", AgentVersion: "1.4.2"}
	for b.Loop() {
		Evaluate(f, m, "")
	}
}
