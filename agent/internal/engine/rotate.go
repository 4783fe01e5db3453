package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// crashPoint ends the process at once, as a power cut would, when the
// environment names this step of a rotation (WIREFLEET_TEST_CRASH_AT): the
// namespace test kills the agent at every step and checks it comes back
// working. Nothing else sets it.
func crashPoint(step string) {
	if os.Getenv("WIREFLEET_TEST_CRASH_AT") == step {
		fmt.Fprintf(os.Stderr, "WIREFLEET_TEST_CRASH_AT=%s: exiting\n", step)
		os.Exit(75)
	}
}

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
	if s := e.view.Self(); s != nil && s.RotateKeyBefore != nil && born.Before(*s.RotateKeyBefore) {
		return "an admin asked for it"
	}
	if e.KeyRotation > 0 && !born.IsZero() && now.Sub(born) >= e.KeyRotation {
		return fmt.Sprintf("the key is %s old (--key-rotation %s)", now.Sub(born).Round(time.Hour), e.KeyRotation)
	}
	return ""
}

// rotator is the server side of a rotation (*client.Client).
type rotator interface {
	Rekey(context.Context, string) (wire.Machine, error)
	NextCredential(context.Context) (string, error)
	SetToken(string)
}

// rotateKeys replaces the key whenever it is due, and the machine
// credential after each key, until ctx ends: woken by maps (an admin's
// request arrives in Self) and every keyCheckEvery.
func (e *Engine) rotateKeys(ctx context.Context, cl rotator) {
	t := time.NewTicker(keyCheckEvery)
	defer t.Stop()
	failures := 0
	for {
		if why := e.keyDue(e.now()); why != "" || e.credentialDue() {
			err := error(nil)
			if why != "" {
				err = e.rotateKey(ctx, cl, why)
			}
			if err == nil {
				err = e.rotateCredential(ctx, cl)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d := Backoff(failures)
				failures++
				e.Log.Warn("key or credential rotation failed; retrying", "err", err, "retry_in", d.Round(time.Millisecond))
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

// credentialDue says the machine credential has not been replaced since
// the key was: each key rotation replaces the credential too.
func (e *Engine) credentialDue() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.cfg.KeyCreatedAt.IsZero() && e.cfg.CredentialKeyAt.Before(e.cfg.KeyCreatedAt)
}

// rotateCredential replaces the machine credential. The server's next
// credential works beside the current one until its first use, which
// retires the current one; so it is stored before it is used, and a crash
// at any point leaves a credential that works (the stored one).
func (e *Engine) rotateCredential(ctx context.Context, cl rotator) error {
	if !e.credentialDue() {
		return nil
	}
	sec, err := cl.NextCredential(ctx)
	if err != nil {
		return fmt.Errorf("asking for the next machine credential: %w", err)
	}
	crashPoint("credential-issued")
	if err := e.Store.Put(keystore.Credential, []byte(sec)); err != nil {
		return fmt.Errorf("storing the next machine credential in the %s keystore: %w", e.Store.Backend(), err)
	}
	crashPoint("credential-stored")
	cl.SetToken(sec)
	e.mu.Lock()
	e.cfg.CredentialKeyAt = e.cfg.KeyCreatedAt
	cfg := e.cfg
	e.mu.Unlock()
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		return fmt.Errorf("recording the credential rotation: %w", err)
	}
	e.Log.Info("machine credential rotated")
	return nil
}

// rotateKey runs steps 1–3 above.
func (e *Engine) rotateKey(ctx context.Context, cl rotator, why string) error {
	next, err := e.nextKey()
	if err != nil {
		return err
	}
	crashPoint("key-aside")
	t0 := e.now()
	m, err := cl.Rekey(ctx, next.PublicKey().String())
	if err != nil {
		return fmt.Errorf("registering the new key: %w", err)
	}
	crashPoint("key-registered")
	born := e.now().UTC()
	if m.KeyCreatedAt != nil {
		born = *m.KeyCreatedAt
	}
	if err := e.promoteKey(next, born); err != nil {
		return err
	}
	crashPoint("key-swapped")
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
	e.link.cfg.PrivateKey = next
	e.cfg.KeyCreatedAt = born
	cfg := e.cfg
	tun := e.link.tun
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
	self := e.view.Self()
	e.mu.Unlock()
	if self == nil || self.PublicKey != next.PublicKey().String() {
		return // not registered yet, as far as this map knows: rotateKeys sends it
	}
	if err := e.promoteKey(next, e.now().UTC()); err != nil {
		e.Log.Warn("finishing the interrupted key rotation", "err", err)
		return
	}
	e.Log.Info("finished a WireGuard key rotation interrupted by the last stop", "public_key", self.PublicKey)
}
