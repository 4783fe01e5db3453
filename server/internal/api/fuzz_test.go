package api

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// checkDecodeErr asserts the decoder's contract: every failure is a
// *wire.Error whose status is a 4xx.
func checkDecodeErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("decode error is not a protocol error: %v", err)
	}
	if s := we.Code.Status(); s < 400 || s > 499 {
		t.Fatalf("decode error %s maps to status %d, want 4xx", we.Code, s)
	}
}

func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"token":"wfe_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=","hostname":"h","os":"linux","arch":"amd64","agent_version":"1"}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`{"name":"<script>"}`))
	f.Add([]byte(`{"endpoints":["[::1]:1","1.2.3.4:0"]}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req wire.EnrollRequest
		checkDecodeErr(t, DecodeStrict(bytes.NewReader(body), &req))
		// What a decoded request may contain is fuzzed in
		// fleet.FuzzValidateEnroll.
	})
}

func FuzzDecodeAdminRequests(f *testing.F) {
	f.Add([]byte(`{"reusable":true,"max_uses":3,"tags":["a"],"expires_in":"1h"}`))
	f.Add([]byte(`{"name":"x","tags":["y"]}`))
	f.Add([]byte(`{"endpoints":["1.2.3.4:5"],"listen_port":51820}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeErr(t, DecodeStrict(bytes.NewReader(body), &wire.CreateTokenRequest{}))
		checkDecodeErr(t, DecodeStrict(bytes.NewReader(body), &wire.UpdateMachineRequest{}))
		var ep wire.EndpointsRequest
		if err := DecodeStrict(bytes.NewReader(body), &ep); err == nil {
			if eps, err := wire.ValidateEndpoints(ep.Endpoints); err == nil {
				for _, e := range eps {
					if len(e) > wire.MaxEndpointLen+8 {
						t.Fatalf("normalised endpoint too long: %q", e)
					}
				}
			}
		} else {
			checkDecodeErr(t, err)
		}
	})
}

// FuzzFlowReport: any body decodes to a protocol error or a report whose
// records each validate or are refused with a code; a record that
// validates has the reporter at one end and bounded text.
func FuzzFlowReport(f *testing.F) {
	f.Add([]byte(`{"records":[{"start":"2026-12-06T00:00:00Z","end":"2026-12-06T00:00:01Z","proto":"tcp","src":"100.64.0.1","dst":"100.64.0.2","dst_port":80,"verdict":"allowed"}]}`))
	f.Add([]byte(`{"records":[{"src":"::ffff:100.64.0.1","dst":"100.64.0.1","proto":"udp","verdict":"denied","rule":"\u0000"}],"dropped":18446744073709551615}`))
	f.Add([]byte(`{"records":null}`))
	mine := []netip.Addr{netip.MustParseAddr("100.64.0.1")}
	f.Fuzz(func(t *testing.T, body []byte) {
		var rep wire.FlowReport
		err := decodeLimit(bytes.NewReader(body), &rep, maxFlowReportBytes)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		for _, r := range rep.Records {
			err := r.Validate(mine)
			if err != nil {
				if wire.ErrorCode(err) == "" {
					t.Fatalf("an error without a code: %v", err)
				}
				continue
			}
			if r.Src != "100.64.0.1" && r.Dst != "100.64.0.1" {
				if a, _ := netip.ParseAddr(r.Src); a != mine[0] {
					if b, _ := netip.ParseAddr(r.Dst); b != mine[0] {
						t.Fatalf("a record without the reporter validated: %+v", r)
					}
				}
			}
			if len(r.Rule) > wire.MaxFlowRuleLen {
				t.Fatalf("a long rule validated: %d", len(r.Rule))
			}
		}
	})
}
