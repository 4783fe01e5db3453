package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// fakeAdvertiser answers advertisements as a server would, from a script.
type fakeAdvertiser struct {
	mu   sync.Mutex
	got  []wire.RoutesAdvert
	errs []error // answers, in order; nil after they run out
	sent chan struct{}
}

func (f *fakeAdvertiser) AdvertiseRoutes(_ context.Context, a wire.RoutesAdvert) (wire.RoutesAdvert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, a)
	var err error
	if len(f.errs) > 0 {
		err, f.errs = f.errs[0], f.errs[1:]
	}
	f.sent <- struct{}{}
	return a, err
}

// The advertisement goes once at start, again after a failure, and again
// only when the owner changes it; a server from before routes (404) is
// not asked again until then.
func TestReportRoutes(t *testing.T) {
	e := &Engine{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Routing: Routing{Advertise: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}}
	e.rt.dirty = make(chan struct{}, 1)
	f := &fakeAdvertiser{sent: make(chan struct{}, 10), errs: []error{errors.New("connection refused")}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.reportRoutes(ctx, f)
	wait := func(what string) {
		t.Helper()
		select {
		case <-f.sent:
		case <-time.After(5 * time.Second):
			t.Fatalf("no advertisement: %s", what)
		}
	}
	wait("at start")
	wait("the retry after a failure") // Backoff(1) is about a second
	select {
	case <-f.sent:
		t.Fatal("advertised again with nothing changed")
	case <-time.After(300 * time.Millisecond):
	}
	f.mu.Lock()
	f.errs = []error{&wire.Error{Code: wire.CodeNotFound, Message: "no API route"}}
	f.mu.Unlock()
	e.SetRouting(Routing{ExitNode: true})
	wait("after the owner's change")
	select {
	case <-f.sent:
		t.Fatal("an old server (404) was asked again")
	case <-time.After(300 * time.Millisecond):
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != 3 || len(f.got[0].Routes) != 1 || !f.got[2].ExitNode {
		t.Fatalf("advertisements: %+v", f.got)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt.advErr == "" {
		t.Error("status does not say the server is too old for routes")
	}
}
