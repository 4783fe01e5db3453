package policy

import (
	"strings"
	"testing"
)

// "flowLogs" names who logs flows, how much and how often; mistakes are
// positioned problems.
func TestFlowLogsSetting(t *testing.T) {
	p, err := Parse([]byte(`{"tags": ["tag:srv"], "flowLogs": {"src": ["tag:srv"], "sample": 0.5, "interval": "30s"}, "rules": []}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.FlowLogsFor(machine("db-1", "100.64.0.9", "srv")); got == nil || got.Sample != 0.5 || got.IntervalSeconds != 30 {
		t.Errorf("tagged machine: %+v", got)
	}
	if got := p.FlowLogsFor(machine("laptop-1", "100.64.0.2")); got != nil {
		t.Errorf("untagged machine logs: %+v", got)
	}
	all, err := Parse([]byte(`{"flowLogs": {"src": ["*"]}, "rules": []}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := all.FlowLogsFor(machine("laptop-1", "100.64.0.2")); got == nil || got.Sample != 1 || got.IntervalSeconds != 60 {
		t.Errorf("defaults: %+v", got)
	}
	for _, tc := range []struct{ text, at, msg string }{
		{`{"flowLogs": {"src": []}, "rules": []}`, `{"src"`, "has no src"},
		{`{"flowLogs": {"src": ["*"], "sample": 1.5}, "rules": []}`, `1.5`, "more than 0, at most 1"},
		{`{"flowLogs": {"src": ["*"], "interval": "5s"}, "rules": []}`, `"5s"`, "from 10s to 1h"},
		{`{"flowLogs": {"src": ["*", "tag:nope"]}, "rules": []}`, `"tag:nope"`, "unknown tag"},
		{`{"flowLogs": {"src": ["10.0.0.0/8"]}, "rules": []}`, `"10.0.0.0/8"`, "flow logs are turned on for"},
	} {
		_, err := Parse([]byte(tc.text), nil)
		pe, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: %v", tc.text, err)
			continue
		}
		line, col := position([]byte(tc.text), strings.Index(tc.text, tc.at))
		if p := pe.Problems[0]; p.Line != line || p.Col != col || !strings.Contains(p.Msg, tc.msg) {
			t.Errorf("%s: %d:%d %q, want %d:%d %q", tc.text, p.Line, p.Col, p.Msg, line, col, tc.msg)
		}
	}
}
