package service

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
)

type fakeSys struct{ lines []string }

func (f *fakeSys) Error(v ...any) error { f.lines = append(f.lines, "E "+fmt.Sprint(v...)); return nil }
func (f *fakeSys) Warning(v ...any) error {
	f.lines = append(f.lines, "W "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSys) Info(v ...any) error                  { f.lines = append(f.lines, "I "+fmt.Sprint(v...)); return nil }
func (f *fakeSys) Errorf(format string, a ...any) error { return f.Error(fmt.Sprintf(format, a...)) }
func (f *fakeSys) Warningf(format string, a ...any) error {
	return f.Warning(fmt.Sprintf(format, a...))
}
func (f *fakeSys) Infof(format string, a ...any) error { return f.Info(fmt.Sprintf(format, a...)) }

func TestEventHandlerForwardsByLevelWithAttributes(t *testing.T) {
	var buf bytes.Buffer
	sys := &fakeSys{}
	log := slog.New(&eventHandler{next: slog.NewTextHandler(&buf, nil), sys: sys}).With("machine", "m1")
	log.Debug("hidden")
	log.Info("tunnel up", "iface", "wf0")
	log.Warn("retrying")
	log.Error("revoked")
	want := []string{"I tunnel up machine=m1 iface=wf0", "W retrying machine=m1", "E revoked machine=m1"}
	if fmt.Sprint(sys.lines) != fmt.Sprint(want) {
		t.Fatalf("system log = %q, want %q", sys.lines, want)
	}
	if !bytes.Contains(buf.Bytes(), []byte("tunnel up")) {
		t.Fatal("records not passed on to the next handler")
	}
}
