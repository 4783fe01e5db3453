package engine

// What runs beside the map poll: health reports, flag sync, update
// checks, and what their answers change.

import (
	"context"
	"errors"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/facts"
	"github.com/wirefleet/wirefleet/agent/internal/health"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// startBackground starts what runs beside the map poll until ctx ends:
// endpoint reports, health reports, flag sync and update checks.
func (e *Engine) startBackground(ctx context.Context, cfg state.Config, cl *client.Client, cancel context.CancelFunc) {
	go e.reportEndpoints(ctx, cl, cfg.ListenPort, e.tunName())
	e.startChecks(ctx)
	go e.reportRoutes(ctx, cl)
	go e.watchRoutes(ctx)
	go e.saveCaches(ctx)
	go e.rotateKeys(ctx, cl)
	go e.logFlows(ctx, cl)
	go e.runSSH(ctx, cl)
	inventory := &facts.Tracker{Sources: facts.Sources{Live: true, MetadataURL: e.MetadataURL, SMBIOSDir: e.SMBIOSDir}, Version: e.Version}
	reporter := &health.Reporter{
		Sender: cl, Path: e.healthQueue(), Interval: e.HealthInterval, Log: e.Log,
		Collect: func(ctx context.Context) wire.HealthReport {
			r := health.Collect(ctx, e.Version, e.tunnelHealth())
			r.Facts = inventory.Due(ctx, time.Now()) // only when they changed
			r.Update = e.takeUpdate()
			r.ServerPins = cl.Pins() // the server rotates its TLS key once every agent holds the next one
			if e.Flags != nil {
				r.FlagUsage = e.Flags.TakeUsage() // who uses which flag, counted here
			}
			return r
		},
		OnAck: func(ack wire.HealthAck) {
			e.noteReleases(ack)
			if e.Flags != nil {
				e.Flags.Heard() // the server answers: a held flag poll is current
			}
		},
	}
	go reporter.Run(ctx)
	if e.Flags != nil {
		// Health reports are the heartbeat that confirms the flags
		// while their poll is held: past one interval and some without
		// an answer, they are stale.
		if e.HealthInterval > 0 {
			e.Flags.SetMaxSilence(e.HealthInterval + 15*time.Second)
		}
		go func() {
			e.Flags.Sync(ctx, cl, Backoff)
			e.Flags.Save() // keep the last confirmation for the next start
		}()
	}
	if st := e.UpdateOutcome; st != nil {
		if st.State == "ok" {
			e.Log.Info("the update to "+st.To+" succeeded", "from", st.From)
		} else {
			e.Log.Error("the update to "+st.To+" failed and was rolled back; this version will not try it again", "reason", st.Reason)
		}
		e.setUpdate(st)
	}
	if e.UpdateInterval > 0 && e.Exe != "" {
		channel := cfg.EffectiveChannel(e.Channel)
		e.mu.Lock()
		e.upd.following = channel
		e.mu.Unlock()
		u := &update.Updater{Server: cfg.Server, HTTP: cl.HTTPClient(), Root: cfg.ReleaseRoot, Channel: channel, Current: e.Version,
			MachineID: cfg.MachineID, Exe: e.Exe, StateDir: e.Paths.State, Gate: e.UpdateGate, Log: e.Log, Pin: e.pinned,
			OnOutcome: func(st wire.UpdateStatus) { e.setUpdate(&st) }}
		go e.checkUpdates(ctx, u, cancel)
	}
}

// checkUpdates looks for a release shortly after start and then every
// UpdateInterval. After installing one it stops Run, whose caller exits so
// the service manager starts the new binary.
func (e *Engine) checkUpdates(ctx context.Context, u *update.Updater, stop context.CancelFunc) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.upd.changed:
			e.Log.Info("the server has new releases; looking for an update")
		}
		err := u.Check(ctx)
		switch {
		case errors.Is(err, update.ErrRestart):
			e.mu.Lock()
			e.upd.restart = true
			e.mu.Unlock()
			stop()
			return
		case err != nil && ctx.Err() == nil:
			e.Log.Warn("update check", "err", err)
		}
		t.Reset(e.UpdateInterval)
	}
}

// noteReleases wakes the update checker when the server's release tag
// changes (the first tag seen is only recorded: the checker runs at start
// anyway).
func (e *Engine) noteReleases(ack wire.HealthAck) {
	e.mu.Lock()
	changed := ack.Releases != "" && e.upd.tag != "" && ack.Releases != e.upd.tag
	if ack.Releases != "" {
		e.upd.tag = ack.Releases
	}
	if ack.Pin != e.upd.pin {
		changed = e.upd.acked // the first acknowledgement only sets it: the start-up check follows
		e.upd.pin = ack.Pin
	}
	e.upd.acked = true
	e.mu.Unlock()
	if changed {
		wake(e.upd.changed) // unless a check is already due
	}
}

// pinned returns the version an admin pinned this machine to, as of the
// last health acknowledgement.
func (e *Engine) pinned() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.upd.pin
}

func (e *Engine) setUpdate(st *wire.UpdateStatus) {
	e.mu.Lock()
	e.upd.pending = st
	e.mu.Unlock()
}

func (e *Engine) takeUpdate() *wire.UpdateStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.upd.pending
	e.upd.pending = nil
	return st
}

func (e *Engine) healthQueue() string { return e.Paths.HealthQueue() }
