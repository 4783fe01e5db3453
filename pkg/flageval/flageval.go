// Package flageval evaluates Wirefleet feature flags for a machine, and
// checks a flag before it is stored. The agent evaluates locally from its
// cached flag set (so applications keep working offline); the server uses
// the same code to validate and preview. Percentage rules bucket machines
// with package rollout (flagd's "fractional").
package flageval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/rollout"
	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Reasons, as OpenFeature names them.
const (
	ReasonStatic   = "STATIC"          // no rules: the default value
	ReasonDefault  = "DEFAULT"         // rules exist, none matched
	ReasonTarget   = "TARGETING_MATCH" // a rule matched
	ReasonSplit    = "SPLIT"           // a percentage rule admitted the machine
	ReasonDisabled = "DISABLED"        // flag disabled: the default value
)

// Result is one evaluation.
type Result struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Reason  string          `json:"reason"`
	Variant string          `json:"variant,omitempty"`
	Rule    int             `json:"rule"` // index of the matching rule, -1 when none
}

// Evaluate returns the flag's value for the machine. targetingKey is the
// bucketing key for percentage rules (the machine ID unless an application
// passes its own).
func Evaluate(f wire.Flag, m wire.MachineFacts, targetingKey string) Result {
	if targetingKey == "" {
		targetingKey = m.ID
	}
	r := Result{Key: f.Key, Value: f.Default, Rule: -1}
	switch {
	case !f.Enabled:
		r.Reason = ReasonDisabled
		return r
	case len(f.Rules) == 0:
		r.Reason = ReasonStatic
		return r
	}
	for i, rule := range f.Rules {
		if !matches(rule, m) {
			continue
		}
		if rule.Percentage != nil {
			if rollout.Bucket(f.Key, targetingKey) >= *rule.Percentage {
				continue
			}
			return Result{Key: f.Key, Value: rule.Value, Reason: ReasonSplit, Variant: rule.Variant, Rule: i}
		}
		return Result{Key: f.Key, Value: rule.Value, Reason: ReasonTarget, Variant: rule.Variant, Rule: i}
	}
	r.Reason = ReasonDefault
	return r
}

func matches(r wire.FlagRule, m wire.MachineFacts) bool {
	if len(r.Tags) > 0 && !anyIn(r.Tags, m.Tags) {
		return false
	}
	if len(r.OS) > 0 && !anyIn(r.OS, []string{m.OS}) {
		return false
	}
	if len(r.Arch) > 0 && !anyIn(r.Arch, []string{m.Arch}) {
		return false
	}
	if len(r.Names) > 0 && !anyIn(r.Names, []string{m.Name}) {
		return false
	}
	if r.MinVersion != "" && version.Compare(m.AgentVersion, r.MinVersion) < 0 {
		return false
	}
	if r.MaxVersion != "" && version.Compare(m.AgentVersion, r.MaxVersion) >= 0 {
		return false
	}
	return true
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Validate checks a flag definition: key, type, and that the default and
// every rule value are JSON of the flag's type.
func Validate(f wire.Flag) error {
	if !keyRE.MatchString(f.Key) {
		return wire.Errorf(wire.CodeInvalidArgument, "flag key must be 1–128 characters of a–z, 0–9, '.', '_' and '-', starting with a letter or digit")
	}
	if err := checkType(f.Type, f.Default); err != nil {
		return wire.Errorf(wire.CodeInvalidArgument, "default: %v", err)
	}
	if len(f.Rules) > 100 {
		return wire.Errorf(wire.CodeInvalidArgument, "at most 100 rules")
	}
	if err := wire.ValidateFact("description", f.Description, MaxDescriptionLen, false); err != nil {
		return err // also refuses CR/LF and bidirectional overrides, which the page would render
	}
	for i, r := range f.Rules {
		if err := checkType(f.Type, r.Value); err != nil {
			return wire.Errorf(wire.CodeInvalidArgument, "rule %d value: %v", i+1, err)
		}
		if r.Percentage != nil && (*r.Percentage < 0 || *r.Percentage > 100) {
			return wire.Errorf(wire.CodeInvalidArgument, "rule %d: percentage must be 0–100", i+1)
		}
		for _, v := range []string{r.MinVersion, r.MaxVersion} {
			if v != "" && !version.IsValid(v) {
				return wire.Errorf(wire.CodeInvalidArgument, "rule %d: %q is not a version", i+1, v)
			}
		}
		if len(r.Tags)+len(r.OS)+len(r.Arch)+len(r.Names) > 1000 || len(r.Variant) > 64 {
			return wire.Errorf(wire.CodeInvalidArgument, "rule %d is too large", i+1)
		}
		for _, list := range [][]string{{r.Variant}, r.Tags, r.OS, r.Arch, r.Names} {
			for _, s := range list {
				if err := wire.ValidateFact(fmt.Sprintf("rule %d", i+1), s, wire.MaxFactLen, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Limits on a flag definition: what agents cache, evaluate and serve to
// local applications, and what the page shows.
const (
	MaxDescriptionLen = 500
	MaxValueBytes     = 16 << 10 // one default or rule value
	MaxValueDepth     = 32       // nesting of objects and arrays in a value
)

func checkType(typ string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return fmt.Errorf("missing value")
	}
	if len(v) > MaxValueBytes {
		return fmt.Errorf("value larger than %d bytes", MaxValueBytes)
	}
	if d := depth(v); d > MaxValueDepth {
		return fmt.Errorf("value nested deeper than %d levels", MaxValueDepth)
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	if err := jsonkeys.Check(v, nil); err != nil {
		// Two SDKs could read {"a":1,"a":2} differently.
		return err
	}
	ok := false
	switch typ {
	case wire.FlagBoolean:
		_, ok = x.(bool)
	case wire.FlagString:
		_, ok = x.(string)
	case wire.FlagNumber:
		_, ok = x.(float64)
	case wire.FlagObject:
		_, ok = x.(map[string]any)
	default:
		return fmt.Errorf("type must be boolean, string, number or object")
	}
	if !ok {
		return fmt.Errorf("%s is not a %s", clip(string(v)), typ)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// depth returns how deeply v's objects and arrays nest, counting brackets
// outside strings (v is checked as JSON afterwards).
func depth(v []byte) int {
	d, most, inString, escaped := 0, 0, false, false
	for _, c := range v {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}
