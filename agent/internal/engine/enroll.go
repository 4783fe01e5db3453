// Package engine is the agent's core: enrollment, and the run loop that
// keeps the tunnel in line with the server's network map.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DefaultListenPort is WireGuard's customary UDP port.
const DefaultListenPort = 51820

// EnrollOptions are the inputs of `wirefleet-agent enroll`.
type EnrollOptions struct {
	Server string
	Token  string
	Pin    string
	Name   string
	Force  bool
	// KeepSameServer makes enrolling again with the server this machine
	// is already enrolled with a no-op (ErrKept) and enrolling with
	// another server replace the enrollment, as installers re-run with
	// the same token expect.
	KeepSameServer bool
	Version        string
	ListenPort     int
	// Channel is stored in config.json as the release channel to follow
	// ("" leaves the default, stable).
	Channel string
	// Without a Token the enrollment is interactive: OnApprovalURL is
	// told where an admin approves this machine, and Enroll waits (up to
	// the server's 15 minutes) for the decision.
	OnApprovalURL func(url, code string)
}

// GenerateKey returns a fresh WireGuard (X25519) key pair. The private key
// never leaves this machine.
func GenerateKey() (priv wgtypes.Key, pub string, err error) {
	priv, err = wgtypes.GeneratePrivateKey()
	if err != nil {
		return priv, "", fmt.Errorf("engine: generate key: %w", err)
	}
	return priv, priv.PublicKey().String(), nil
}

// NewClient returns a client for cfg's server, pinned when cfg has a pin.
// extra are further options (client.WithMark).
func NewClient(server string, pins []string, credential string, extra ...client.Option) (*client.Client, error) {
	opts := extra
	if len(pins) > 0 {
		opts = append(opts, client.WithPins(pins...))
	}
	if credential != "" {
		opts = append(opts, client.WithToken(credential))
	}
	return client.New(server, opts...)
}

// ErrKept is returned by Enroll with KeepSameServer when the machine is
// already enrolled with that server; nothing was changed.
var ErrKept = errors.New("already enrolled with this server; enrollment kept")

// SameServer reports whether two server URLs name the same server: the
// scheme and host compare case-insensitively, a default port and a
// trailing slash do not matter.
func SameServer(a, b string) bool {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			return strings.TrimRight(strings.ToLower(s), "/")
		}
		host, port := strings.ToLower(u.Hostname()), u.Port()
		scheme := strings.ToLower(u.Scheme)
		if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
		return scheme + "://" + net.JoinHostPort(host, port) + strings.TrimRight(u.Path, "/")
	}
	return norm(a) == norm(b)
}

// Enroll registers this machine with the server and stores the result:
// secrets in the keystore, the rest in config.json and the map cache.
func Enroll(ctx context.Context, p paths.Paths, ks keystore.Store, o EnrollOptions) (state.Config, error) {
	if old, err := state.LoadConfig(p.ConfigFile()); err == nil && !old.Revoked && !o.Force {
		switch {
		case o.KeepSameServer && SameServer(old.Server, o.Server):
			return old, ErrKept
		case !o.KeepSameServer:
			return old, fmt.Errorf("already enrolled with %s as %s; pass --force to enroll again", old.Server, old.Name)
		}
	}
	if o.ListenPort == 0 {
		o.ListenPort = DefaultListenPort
	}
	priv, pub, err := GenerateKey()
	if err != nil {
		return state.Config{}, err
	}
	var pins []string
	if o.Pin != "" {
		pins = []string{o.Pin}
	}
	cl, err := NewClient(o.Server, pins, "")
	if err != nil {
		return state.Config{}, err
	}
	host, _ := os.Hostname()
	req := wire.EnrollRequest{
		Token: o.Token, PublicKey: pub, Hostname: host, Name: o.Name, OS: runtime.GOOS, Arch: runtime.GOARCH,
		AgentVersion: o.Version, Endpoints: LocalEndpoints(o.ListenPort, ""), ListenPort: o.ListenPort,
	}
	var resp wire.EnrollResponse
	if o.Token == "" {
		resp, err = enrollInteractively(ctx, cl, o, pins, req)
	} else {
		resp, err = cl.Enroll(ctx, req)
	}
	if err != nil {
		return state.Config{}, err
	}
	if err := ks.Put(keystore.PrivateKey, priv[:]); err != nil {
		return state.Config{}, err
	}
	if err := ks.Put(keystore.Credential, []byte(resp.Credential)); err != nil {
		return state.Config{}, err
	}
	cfg := state.Config{
		Server: o.Server, Pin: o.Pin, MachineID: resp.MachineID, Name: resp.Name, IPv4: resp.IPv4, IPv6: resp.IPv6,
		ListenPort: o.ListenPort, EnrolledAt: time.Now().UTC(), ReleaseRoot: releaseRoot(ctx, cl, o.Server), Channel: o.Channel,
	}
	if err := state.SaveConfig(p.ConfigFile(), cfg); err != nil {
		return cfg, err
	}
	if err := state.SaveCache(p.NetmapCache(), state.Cache{SavedAt: time.Now().UTC(), Map: resp.Netmap}); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// enrollInteractively asks to join without a token, shows where an admin
// approves the machine, and waits for the decision.
func enrollInteractively(ctx context.Context, cl *client.Client, o EnrollOptions, pins []string, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	ir, err := cl.RequestEnrollment(ctx, req)
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	if o.OnApprovalURL != nil {
		o.OnApprovalURL(ir.URL, ir.Code)
	}
	waiter, err := NewClient(o.Server, pins, ir.Secret)
	if err != nil {
		return wire.EnrollResponse{}, err
	}
	for failures := 0; ; {
		resp, done, err := waiter.WaitEnrollment(ctx, 50*time.Second)
		switch {
		case err == nil && done:
			return resp, nil
		case err == nil:
			failures = 0
		case wire.ErrorCode(err) == wire.CodeInternal && ctx.Err() == nil && failures < 10:
			// The server restarted, or the network blinked: the request
			// stays on the server, so ask again.
			failures++
			select {
			case <-ctx.Done():
				return wire.EnrollResponse{}, ctx.Err()
			case <-time.After(Backoff(failures)):
			}
		default:
			return wire.EnrollResponse{}, err
		}
	}
}

// LocalEndpoints lists this machine's usable unicast addresses with the
// WireGuard port: candidates for peers on the same network. The server adds
// the address it sees the agent connect from.
func LocalEndpoints(port int, skipIface string) []string {
	var out []string
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Name == skipIface {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLinkLocalUnicast() || ip.IsLoopback() || overlay4.Contains(ip) || (ip.Is6() && ip.As16()[0] == 0xfd) {
				continue
			}
			out = append(out, netip.AddrPortFrom(ip, uint16(port)).String())
			if len(out) == wire.MaxEndpoints-1 { // leave room for the observed one
				return out
			}
		}
	}
	return out
}

var overlay4 = netip.MustParsePrefix("100.64.0.0/10")

// Logout tells the server nothing yet (the server has no self-removal call
// in this version) and wipes local secrets and state.
func Logout(p paths.Paths, ks keystore.Store) error {
	return errors.Join(keystore.WipeAll(ks), removeIfExists(p.ConfigFile()), removeIfExists(p.NetmapCache()))
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// releaseRoot fetches the server's release root key over the (pinned)
// connection, to pin it for self-updates. A server without releases yet
// gives "", and updates stay off until the agent is re-enrolled.
func releaseRoot(ctx context.Context, cl *client.Client, server string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/releases/root.pub", nil)
	if err != nil {
		return ""
	}
	resp, err := cl.HTTPClient().Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	pk, err := release.ParsePublicKey(string(b))
	if err != nil {
		return ""
	}
	return pk.String()
}
