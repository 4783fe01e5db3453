package engine

// The machine's identity as the engine loads it: enrollment, WireGuard
// key and credential, each checked before use.

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// loadIdentity reads the enrollment, the WireGuard key and the machine
// credential, and builds the pinned server client.
func (e *Engine) loadIdentity() (state.Config, wgtypes.Key, *client.Client, error) {
	var priv wgtypes.Key
	cfg, err := state.LoadConfig(e.Paths.ConfigFile())
	if err != nil {
		return cfg, priv, nil, err
	}
	if cfg.Revoked {
		return cfg, priv, nil, ErrRevoked
	}
	keyb, err := e.Store.Get(keystore.PrivateKey)
	if err != nil {
		return cfg, priv, nil, fmt.Errorf("engine: WireGuard key missing from the %s keystore (enroll again): %w", e.Store.Backend(), err)
	}
	cred, err := e.Store.Get(keystore.Credential)
	if err != nil {
		return cfg, priv, nil, fmt.Errorf("engine: machine credential missing from the %s keystore (enroll again): %w", e.Store.Backend(), err)
	}
	if err := checkSecrets(keyb, cred, e.Store.Backend()); err != nil {
		return cfg, priv, nil, err
	}
	copy(priv[:], keyb)
	var extra []client.Option
	if e.marks() {
		// Its connections to the server and the relay stay outside the
		// tunnel when an exit node carries the rest.
		extra = append(extra, client.WithMark(routes.Mark))
	}
	cl, err := NewClient(cfg.Server, cfg.TrustedPins(), string(cred), extra...)
	if err != nil {
		return cfg, priv, nil, state.Corrupt(e.Paths.ConfigFile(), err.Error())
	}
	return cfg, priv, cl, nil
}

// checkSecrets refuses a WireGuard key or credential that a torn write or
// a damaged keystore left unusable. A truncated key once brought a tunnel
// "up" through which nothing passed, and a damaged credential surfaced as
// `invalid header field value for "Authorization"`.
func checkSecrets(key, cred []byte, backend string) error {
	if len(key) != wgtypes.KeyLen {
		return state.Corrupt("the WireGuard key in the "+backend+" keystore", fmt.Sprintf("%d bytes, want %d", len(key), wgtypes.KeyLen))
	}
	if bytes.Equal(key, make([]byte, wgtypes.KeyLen)) {
		return state.Corrupt("the WireGuard key in the "+backend+" keystore", "all zeros")
	}
	c := string(cred)
	if !strings.HasPrefix(c, wire.PrefixMachineCred) || len(c) < len(wire.PrefixMachineCred)+16 || len(c) > 256 ||
		strings.ContainsFunc(c, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return state.Corrupt("the machine credential in the "+backend+" keystore", fmt.Sprintf("%d bytes that do not read as a wfm_ credential", len(cred)))
	}
	return nil
}
