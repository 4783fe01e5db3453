package api

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

const sshPolicy = `{
  "tags": ["tag:ops", "tag:srv", "tag:other"],
  "rules": [],
  "ssh": [
    {"action": "accept", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["deploy"]},
    {"action": "check", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["root"], "checkPeriod": "1h"},
  ],
  "recordSessions": true,
}
`

// TestSSHChecks: a destination asks whether the owner of the connecting
// machine confirmed; a probe makes no check, a question does; only the
// owner sees and confirms it; then the answer is yes within the period.
// Machines that are not peers, unknown sources and bad periods are
// refused.
func TestSSHChecks(t *testing.T) {
	e := newEnv(t, Config{Info: func() wire.ServerInfo { return wire.ServerInfo{URL: "https://wf.example"} }})
	ctx := context.Background()
	alice, err := e.admin.CreateAdmin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	asAlice, _ := client.New(e.url, client.WithToken(alice.APIKey))
	_, ops := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"ops"}, Owner: "alice"}), "ops-1")
	_, unowned := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"ops"}}), "ops-2")
	srv, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"srv"}}), "srv-1")
	other, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"other"}}), "other-1")
	if _, err := e.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: sshPolicy}); err != nil {
		t.Fatal(err)
	}
	ask := wire.SSHCheckRequest{Src: ops.MachineID, User: "root", Period: 3600}

	probe := ask
	probe.Probe = true
	if ans, err := srv.SSHCheck(ctx, probe); err != nil || ans.OK || ans.Check != "" || ans.Owner != "alice" {
		t.Fatalf("probe: %+v %v", ans, err)
	}
	ans, err := srv.SSHCheck(ctx, ask)
	if err != nil || ans.OK || !strings.HasPrefix(ans.Check, "sc_") || ans.URL != "https://wf.example/ssh/check/"+ans.Check {
		t.Fatalf("question: %+v %v", ans, err)
	}
	if ans, err := srv.SSHCheck(ctx, wire.SSHCheckRequest{Src: unowned.MachineID, User: "root", Period: 3600}); err != nil || ans.OK || ans.Owner != "" || ans.Check != "" {
		t.Errorf("a machine without an owner: %+v %v", ans, err)
	}
	// Only alice sees and confirms it.
	if _, err := e.admin.SSHCheckInfo(ctx, ans.Check); code(err) != wire.CodeNotFound {
		t.Errorf("another admin sees it: %v", err)
	}
	if _, err := e.admin.ConfirmSSHCheck(ctx, ans.Check); code(err) != wire.CodeNotFound {
		t.Errorf("another admin confirms it: %v", err)
	}
	info, err := asAlice.SSHCheckInfo(ctx, ans.Check)
	if err != nil || info.Src != "ops-1" || info.Dst != "srv-1" || info.User != "root" || info.ConfirmedAt != nil {
		t.Fatalf("alice's view: %+v %v", info, err)
	}
	if again, _ := srv.SSHCheck(ctx, wire.SSHCheckRequest{Src: ops.MachineID, User: "root", Period: 3600, Check: ans.Check}); again.OK {
		t.Fatal("OK before the confirmation")
	}
	if c, err := asAlice.ConfirmSSHCheck(ctx, ans.Check); err != nil || c.ConfirmedAt == nil {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	for _, req := range []wire.SSHCheckRequest{{Src: ops.MachineID, User: "root", Period: 3600, Check: ans.Check}, probe, ask} {
		if got, err := srv.SSHCheck(ctx, req); err != nil || !got.OK {
			t.Errorf("after the confirmation, %+v: %+v %v", req, got, err)
		}
	}
	for _, tc := range []struct {
		c    *client.Client
		req  wire.SSHCheckRequest
		want wire.Code
	}{
		{other, ask, wire.CodeForbidden}, // not a peer of ops under the policy
		{srv, wire.SSHCheckRequest{Src: "m_nobody", User: "root", Period: 3600}, wire.CodeNotFound},
		{srv, wire.SSHCheckRequest{Src: ops.MachineID, User: "ro ot", Period: 3600}, wire.CodeInvalidArgument},
		{srv, wire.SSHCheckRequest{Src: ops.MachineID, User: "root", Period: 5}, wire.CodeInvalidArgument},
		{srv, wire.SSHCheckRequest{Src: ops.MachineID, User: "root", Period: 3600, Check: "sc_forged"}, wire.CodeNotFound},
	} {
		if _, err := tc.c.SSHCheck(ctx, tc.req); code(err) != tc.want {
			t.Errorf("%+v: %v, want %s", tc.req, err, tc.want)
		}
	}
	page, _ := e.admin.Audit(ctx, client.AuditFilter{Action: "ssh.check.confirm"})
	if len(page.Events) != 1 || page.Events[0].Actor != "admin:alice" {
		t.Errorf("audit: %+v", page.Events)
	}
}

// TestSSHSessionsAndRecordings: a destination's session events become
// sessions and audit events; its recording is appended at offsets (a
// retry ignored, a gap refused), served whole to admins, and nobody
// else's to append to.
func TestSSHSessionsAndRecordings(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	_, ops := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"ops"}}), "ops-1")
	srv, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"srv"}}), "srv-1")
	other, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"other"}}), "other-1")
	id := strings.Repeat("ab", 16)
	start := wire.SSHSessionEvent{ID: id, Event: wire.SSHSessionStart, Src: ops.MachineID, User: "deploy", Kind: "shell", Rule: 0, Recorded: true}
	for range 2 { // a repeated report changes nothing
		if err := srv.SSHSessionEvent(ctx, start); err != nil {
			t.Fatal(err)
		}
	}
	header := []byte(`{"version": 2, "width": 80, "height": 24}` + "\n")
	line := []byte(`[0.1, "o", "hello"]` + "\n")
	if err := srv.SSHRecord(ctx, id, 0, header); err != nil {
		t.Fatal(err)
	}
	if err := srv.SSHRecord(ctx, id, 0, header); err != nil { // a retry
		t.Fatal(err)
	}
	if err := srv.SSHRecord(ctx, id, int64(len(header))+5, line); code(err) != wire.CodeConflict {
		t.Errorf("a gap: %v", err)
	}
	if err := srv.SSHRecord(ctx, id, int64(len(header)), line); err != nil {
		t.Fatal(err)
	}
	if err := other.SSHRecord(ctx, id, int64(len(header)+len(line)), line); code(err) != wire.CodeNotFound {
		t.Errorf("another machine appends: %v", err)
	}
	if err := srv.SSHSessionEvent(ctx, wire.SSHSessionEvent{ID: id, Event: wire.SSHSessionEnd, User: "deploy", ExitStatus: 3}); err != nil {
		t.Fatal(err)
	}
	list, err := e.admin.SSHSessions(ctx, "srv-1", 10)
	if err != nil || len(list.Sessions) != 1 {
		t.Fatalf("%+v %v", list, err)
	}
	s := list.Sessions[0]
	if s.SrcName != "ops-1" || s.MachineName != "srv-1" || s.End == nil || s.ExitStatus == nil || *s.ExitStatus != 3 || s.RecordingBytes != int64(len(header)+len(line)) {
		t.Errorf("session: %+v", s)
	}
	var cast bytes.Buffer
	if err := e.admin.SSHRecording(ctx, id, &cast); err != nil || cast.String() != string(header)+string(line) {
		t.Errorf("recording %q %v", cast.String(), err)
	}
	if err := e.admin.SSHRecording(ctx, strings.Repeat("cd", 16), &cast); code(err) != wire.CodeNotFound {
		t.Errorf("no such recording: %v", err)
	}
	// Not recorded: no appends.
	plain := strings.Repeat("ef", 16)
	srv.SSHSessionEvent(ctx, wire.SSHSessionEvent{ID: plain, Event: wire.SSHSessionStart, Src: ops.MachineID, User: "deploy"})
	if err := srv.SSHRecord(ctx, plain, 0, header); code(err) != wire.CodeConflict {
		t.Errorf("append to an unrecorded session: %v", err)
	}
	for _, ev := range []wire.SSHSessionEvent{
		{ID: "short", Event: wire.SSHSessionStart, Src: ops.MachineID},
		{ID: strings.Repeat("01", 16), Event: "pause"},
		{ID: strings.Repeat("02", 16), Event: wire.SSHSessionStart, Src: "m_nobody"},
		{ID: strings.Repeat("03", 16), Event: wire.SSHSessionEnd}, // never started
	} {
		if err := srv.SSHSessionEvent(ctx, ev); err == nil {
			t.Errorf("%+v accepted", ev)
		}
	}
	if err := srv.SSHSessionEvent(ctx, wire.SSHSessionEvent{ID: strings.Repeat("04", 16), Event: wire.SSHSessionDeny, Src: ops.MachineID, User: "alice", Reason: "no rule"}); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"ssh.session.start", "ssh.session.end", "ssh.login.deny"} {
		page, _ := e.admin.Audit(ctx, client.AuditFilter{Action: action})
		if len(page.Events) == 0 {
			t.Errorf("no %s event", action)
		}
	}
}
