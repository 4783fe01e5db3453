package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// FlowLogsDoc is the policy's "flowLogs": the machines (Src: *, tag:,
// group:, machine:) whose agents log the flows their filter sees, the
// share of flows sampled, and the interval of the records. Turning it on
// in the policy makes it reviewed and audited like any access change.
type FlowLogsDoc struct {
	Src      []string `json:"src"`
	Sample   *float64 `json:"sample,omitempty"`   // 0 < sample ≤ 1; default 1
	Interval string   `json:"interval,omitempty"` // 10s … 1h; default 1m
}

// Flow log intervals allowed, and the default.
const (
	MinFlowInterval     = 10 * time.Second
	MaxFlowInterval     = time.Hour
	DefaultFlowInterval = time.Minute
)

func (c *checker) compileFlowLogs(p *Policy) {
	fl := p.Doc.FlowLogs
	if fl == nil {
		return
	}
	if len(fl.Src) == 0 {
		c.add("/flowLogs", `flowLogs has no src: name the machines that log ("*" for all)`)
		return
	}
	out := &wire.FlowLogs{Sample: 1, IntervalSeconds: int(DefaultFlowInterval / time.Second)}
	if fl.Sample != nil {
		if *fl.Sample <= 0 || *fl.Sample > 1 {
			c.add("/flowLogs/sample", "sample is the share of flows logged: more than 0, at most 1 (got %v)", *fl.Sample)
			return
		}
		out.Sample = *fl.Sample
	}
	if fl.Interval != "" {
		d, err := time.ParseDuration(fl.Interval)
		if err != nil || d < MinFlowInterval || d > MaxFlowInterval || d%time.Second != 0 {
			c.add("/flowLogs/interval", "interval %q: a whole number of seconds from 10s to 1h", fl.Interval)
			return
		}
		out.IntervalSeconds = int(d / time.Second)
	}
	// Resolved apart from the rules' atoms, like "relays": naming machines
	// here grants nothing and must not split classes.
	saved := c.atomIdx
	c.atomIdx = map[atom]int{}
	defer func() { c.atomIdx = saved }()
	var who []atom
	for j, s := range fl.Src {
		at := fmt.Sprintf("/flowLogs/src/%d", j)
		switch {
		case s == "*":
			who = append(who, atom{kind: atomAll})
		case strings.HasPrefix(s, "tag:") || strings.HasPrefix(s, "group:") || strings.HasPrefix(s, "machine:"):
			before := len(c.atomIdx)
			c.selector(at, s, &p.Doc)
			for a, i := range c.atomIdx {
				if i >= before {
					who = append(who, a)
				}
			}
		default:
			c.add(at, "%q: flow logs are turned on for *, tag:NAME, group:NAME or machine:NAME", s)
		}
	}
	p.flowSrc, p.flowLogs = who, out
}

// FlowLogsFor returns what machine m is to log (nil: nothing).
func (p *Policy) FlowLogsFor(m Machine) *wire.FlowLogs {
	if p.flowLogs == nil || !matchesAny(p.flowSrc, m) {
		return nil
	}
	fl := *p.flowLogs
	return &fl
}
