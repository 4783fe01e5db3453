package wire

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A flow record is checked field by field, and the reporting machine
// must be one of its ends: a machine cannot write flows it took no part in.
func TestFlowRecordValidate(t *testing.T) {
	mine := []netip.Addr{netip.MustParseAddr("100.64.0.7"), netip.MustParseAddr("fd00::7")}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	good := FlowRecord{Start: t0, End: t0.Add(time.Minute), Proto: "tcp", Src: "100.64.0.7", Dst: "100.64.0.9", SrcPort: 40000, DstPort: 80,
		TxPackets: 10, TxBytes: 1000, RxPackets: 9, RxBytes: 90000, Path: PathDirect, Verdict: FlowAllowed}
	if err := good.Validate(mine); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		mod   func(r *FlowRecord)
		code  Code
		field string
	}{
		{"someone else's flow", func(r *FlowRecord) { r.Src, r.Dst = "100.64.0.8", "100.64.0.9" }, CodeForbidden, "neither end"},
		{"the other end, by IPv6", func(r *FlowRecord) { r.Src, r.Dst = "fd00::9", "fd00::7" }, "", ""},
		{"not an address", func(r *FlowRecord) { r.Dst = "db-1" }, CodeInvalidArgument, "addresses"},
		{"a protocol", func(r *FlowRecord) { r.Proto = "sctp" }, CodeInvalidArgument, "proto"},
		{"a path", func(r *FlowRecord) { r.Path = "carrier-pigeon" }, CodeInvalidArgument, "path"},
		{"a verdict", func(r *FlowRecord) { r.Verdict = "maybe" }, CodeInvalidArgument, "verdict"},
		{"ends before it starts", func(r *FlowRecord) { r.End = t0.Add(-time.Second) }, CodeInvalidArgument, "start"},
		{"no start", func(r *FlowRecord) { r.Start = time.Time{} }, CodeInvalidArgument, "start"},
		{"a rule with a newline", func(r *FlowRecord) { r.Rule = "from *\r\nforged: yes" }, CodeInvalidArgument, "flow.rule"},
		{"a long machine ID", func(r *FlowRecord) { r.DstMachine = strings.Repeat("m", 65) }, CodeInvalidArgument, "flow.dst_machine"},
		{"counts beyond reason", func(r *FlowRecord) { r.RxBytes = 1 << 60 }, CodeInvalidArgument, "counts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.mod(&r)
			err := r.Validate(mine)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("%v, want %s naming %s", err, tc.code, tc.field)
			}
		})
	}
}
