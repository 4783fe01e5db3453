package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
)

// --tls-rotate-every: nothing before the certificate is that old; then a
// rotation, but only once every active machine confirmed the next key.
func TestTLSRotatesWhenDue(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := tlsutil.OpenKeys(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := netmap.New(ctx, db, netmap.Options{ServerPins: keys.Pins})
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go hub.Run(hctx)
	svc := fleet.New(db, hub, slog.New(slog.NewTextHandler(io.Discard, nil)), fleet.Config{})
	tok, sec, err := svc.CreateToken(ctx, store.Actor{Name: "test"}, fleet.TokenSpec{})
	if err != nil || tok.ID == "" {
		t.Fatal(err)
	}
	en, err := svc.Enroll(ctx, netip.Addr{}, wire.EnrollRequest{Token: sec, PublicKey: "9JdPq/r8lyEMZuaC3Zz8TQUrvtIz5ZlNk7qEQy0tq00=", Hostname: "m", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	first := keys.Pin()
	if rotated, err := maybeRotateTLS(ctx, svc, keys, time.Hour, time.Now()); rotated || err != nil {
		t.Fatalf("a fresh certificate rotated: %v %v", rotated, err)
	}
	later := time.Now().Add(2 * time.Hour)
	if rotated, err := maybeRotateTLS(ctx, svc, keys, time.Hour, later); rotated || wire.ErrorCode(err) != wire.CodeConflict || keys.Pin() != first {
		t.Fatalf("due, with the machine unconfirmed: %v %v", rotated, err)
	}
	if _, err := db.SaveHealth(ctx, []store.HealthEntry{{MachineID: en.Machine.ID, ReceivedAt: time.Now(),
		Report: wire.HealthReport{At: time.Now(), OS: "linux", AgentVersion: "1", ServerPins: keys.Pins()}}}, 10); err != nil {
		t.Fatal(err)
	}
	if rotated, err := maybeRotateTLS(ctx, svc, keys, time.Hour, later); !rotated || err != nil || keys.Pin() == first {
		t.Fatalf("due and confirmed: %v %v", rotated, err)
	}
}

// A negative or sub-hour --machine-expiry or --tls-rotate-every is refused
// at start, naming the flag, before anything is opened.
func TestServeRefusesBadDurations(t *testing.T) {
	for _, o := range []Options{{MachineExpiry: -time.Hour}, {MachineExpiry: time.Minute}, {TLSRotateEvery: 30 * time.Second}} {
		o.DataDir, o.Listen, o.InsecureHTTP = t.TempDir(), "127.0.0.1:0", true
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		err := Run(context.Background(), o, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "give at least 1h") {
			t.Errorf("%+v: %v", o.MachineExpiry+o.TLSRotateEvery, err)
		}
	}
}
