package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// DefaultKeyRotation is how old a WireGuard key may get before the agent
// replaces it (--key-rotation).
const DefaultKeyRotation = 90 * 24 * time.Hour

// keyCheckEvery is how often the agent asks itself whether its key is due
// when no map arrives (a map carrying an admin's request wakes it at once).
const keyCheckEvery = time.Hour

// keySwapper is a tunnel that can take a new private key while it runs.
type keySwapper interface {
	SetPrivateKey(wgtypes.Key) error
}

// A key rotation, in an order that survives a crash at any point:
//
//  1. the new key is made and stored as keystore.NextPrivateKey;
//  2. the server registers its public key (a rekey; peers learn it from
//     their maps at once);
//  3. it replaces keystore.PrivateKey, NextPrivateKey is deleted and the
//     running tunnel swaps it in.
//
// After a crash before 2 the next start sends the same key again; after 2
// the map's Self names the new key, and the agent finishes step 3 without
// asking (a rekey of a registered key changes nothing on the server).

// keyDue says why the key must be replaced now ("" when it need not).
func (e *Engine) keyDue(now time.Time) string {
	if _, err := e.Store.Get(keystore.NextPrivateKey); err == nil {
		return "finishing an interrupted rotation"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	born := e.cfg.KeyCreatedAt
	if born.IsZero() {
		born = e.cfg.EnrolledAt
	}
	if s := e.view.Self; s != nil && s.RotateKeyBefore != nil && born.Before(*s.RotateKeyBefore) {
		return "an admin asked for it"
	}
	if e.KeyRotation > 0 && !born.IsZero() && now.Sub(born) >= e.KeyRotation {
		return fmt.Sprintf("the key is %s old (--key-rotation %s)", now.Sub(born).Round(time.Hour), e.KeyRotation)
	}
	return ""
}

// rotateKeys replaces the key whenever it is due, until ctx ends: woken by
// maps (an admin's request arrives in Self) and every keyCheckEvery.
func (e *Engine) rotateKeys(ctx context.Context, cl interface {
	Rekey(context.Context, string) (wire.Machine, error)
}) {
	t := time.NewTicker(keyCheckEvery)
	defer t.Stop()
	failures := 0
	for {
		if why := e.keyDue(time.Now()); why != "" {
			if err := e.rotateKey(ctx, cl, why); err != nil {
				if ctx.Err() != nil {
					return
				}
				d := Backoff(failures)
				failures++
				e.Log.Warn("WireGuard key rotation failed; retrying", "err", err, "retry_in", d.Round(time.Millisecond))
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				continue
			}
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.keyWake:
		}
	}
}

// rotateKey runs steps 1–3 above.
func (e *Engine) rotateKey(ctx context.Context, cl interface {
	Rekey(context.Context, string) (wire.Machine, error)
}, why string) error {
	next, err := e.nextKey()
	if err != nil {
		return err
	}
	t0 := time.Now()
	m, err := cl.Rekey(ctx, next.PublicKey().String())
	if err != nil {
		return fmt.Errorf("registering the new key: %w", err)
	}
	born := time.Now().UTC()
	if m.KeyCreatedAt != nil {
		born = *m.KeyCreatedAt
	}
	if err := e.promoteKey(next, born); err != nil {
		return err
	}
	e.Log.Info("WireGuard key rotated", "why", why, "public_key", next.PublicKey().String(), "took", time.Since(t0).Round(time.Microsecond))
	return nil
}

// nextKey returns the rotation's new key, made and stored now unless an
// interrupted rotation left one.
func (e *Engine) nextKey() (wgtypes.Key, error) {
	var k wgtypes.Key
	if b, err := e.Store.Get(keystore.NextPrivateKey); err == nil && len(b) == len(k) {
		copy(k[:], b)
		return k, nil
	}
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return k, fmt.Errorf("making a new WireGuard key: %w", err)
	}
	if err := e.Store.Put(keystore.NextPrivateKey, k[:]); err != nil {
		return k, fmt.Errorf("storing the new WireGuard key in the %s keystore: %w", e.Store.Backend(), err)
	}
	return k, nil
}

// promoteKey makes next the key in use (step 3): in the keystore, in the
// config (its date) and in the running tunnel.
func (e *Engine) promoteKey(next wgtypes.Key, born time.Time) error {
	if err := e.Store.Put(keystore.PrivateKey, next[:]); err != nil {
		return fmt.Errorf("storing the new WireGuard key in the %s keystore: %w", e.Store.Backend(), err)
	}
	e.mu.Lock()
	e.tcfg.PrivateKey = next
	e.cfg.KeyCreatedAt = born
	cfg := e.cfg
	tun := e.tun
	var swapErr error
	if tun != nil {
		if s, ok := tun.(keySwapper); ok {
			swapErr = s.SetPrivateKey(next)
		} else {
			swapErr = errors.New("this tunnel cannot change its key while it runs")
		}
	}
	e.mu.Unlock()
	if swapErr != nil {
		// The stored key is the new one: a fresh tunnel uses it.
		e.Log.Warn("swapping the key into the running tunnel failed; recreating the tunnel", "err", swapErr)
		e.closeTunnel()
		if err := e.bringUp(); err != nil {
			e.retryTunnel()
		}
	}
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		return fmt.Errorf("recording the key's date: %w", err)
	}
	if err := e.Store.Delete(keystore.NextPrivateKey); err != nil {
		return fmt.Errorf("removing the rotation's spare key: %w", err)
	}
	return nil
}

// finishRotation completes a rotation a crash interrupted after the server
// registered the new key (the map's Self names it): before the tunnel
// comes up, so that it comes up with the key peers expect.
func (e *Engine) finishRotation(priv wgtypes.Key) {
	b, err := e.Store.Get(keystore.NextPrivateKey)
	if err != nil || len(b) != len(priv) {
		return
	}
	var next wgtypes.Key
	copy(next[:], b)
	e.mu.Lock()
	self := e.view.Self
	e.mu.Unlock()
	if self == nil || self.PublicKey != next.PublicKey().String() {
		return // not registered yet, as far as this map knows: rotateKeys sends it
	}
	if err := e.promoteKey(next, time.Now().UTC()); err != nil {
		e.Log.Warn("finishing the interrupted key rotation", "err", err)
		return
	}
	e.Log.Info("finished a WireGuard key rotation interrupted by the last stop", "public_key", self.PublicKey)
}
