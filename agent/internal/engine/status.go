package engine

// What the engine tells `wirefleet-agent status` and the control
// socket.

import (
	"errors"
	"github.com/wirefleet/wirefleet/agent/internal/sshd"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Stopped records why Run returned for good (revoked, damaged state):
// status shows it while the service idles.
func (e *Engine) Stopped(err error) { e.setErr(err) }

func (e *Engine) setErr(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.lastErr = ""
	} else {
		e.lastErr = err.Error()
	}
}

// Status is what `wirefleet-agent status` shows.
type Status struct {
	Enrolled  bool       `json:"enrolled"`
	Running   bool       `json:"running"`
	Revoked   bool       `json:"revoked,omitempty"`
	Server    string     `json:"server,omitempty"`
	Machine   string     `json:"machine,omitempty"`
	MachineID string     `json:"machine_id,omitempty"`
	IPv4      string     `json:"ipv4,omitempty"`
	IPv6      string     `json:"ipv6,omitempty"`
	Interface string     `json:"interface,omitempty"`
	Tunnel    string     `json:"tunnel"`              // up, down
	WireGuard string     `json:"wireguard,omitempty"` // the backend: userspace or kernel
	Down      bool       `json:"down,omitempty"`      // taken down by the operator
	MapVer    uint64     `json:"netmap_version,omitempty"`
	LastSync  *time.Time `json:"last_sync,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	// TunnelError says why the tunnel cannot be created while the agent
	// retries.
	TunnelError string `json:"tunnel_error,omitempty"`
	// IPv6Off: the host refused the IPv6 overlay address (IPv6 disabled
	// by sysctl or at boot), so the tunnel carries IPv4 only.
	IPv6Off  bool                `json:"ipv6_off,omitempty"`
	Peers    []tunnel.PeerStatus `json:"peers"`
	Keystore string              `json:"keystore"`
	StateDir string              `json:"state_dir,omitempty"`
	Version  string              `json:"version"`
	Channel  string              `json:"channel,omitempty"` // the release channel followed
	// Routes is what this machine advertises, carries and uses of the
	// fleet's subnet routes and exit nodes (nil: none of it).
	Routes *RoutesView `json:"routes,omitempty"`
	// Update is the self-update state: a trial in progress and the last
	// attempt's outcome.
	Update UpdateView       `json:"update"`
	Flags  *flags.Freshness `json:"flags,omitempty"`
	// Paths describes NAT traversal: the relay connection, the STUN
	// server and the reflexive address it reported.
	Paths *netpath.Status `json:"paths,omitempty"`
	// Access is the access policy's filter on the tunnel: the rules in
	// force (who may connect to this machine) and what was dropped.
	Access *AccessView `json:"access,omitempty"`
	// DNS is the fleet resolver: the domain, the names it answers, how
	// the OS was told (nil when --accept-dns=false).
	DNS *DNSView `json:"dns,omitempty"`
	// Key is the WireGuard key's age and rotation.
	Key *KeyView `json:"key,omitempty"`
	// SSH is the SSH server over the overlay (nil: no ssh rule names
	// this machine).
	SSH *sshd.Status `json:"ssh,omitempty"`
}

// KeyView is the key-rotation part of status.
type KeyView struct {
	PublicKey string    `json:"public_key"`
	CreatedAt time.Time `json:"created_at"`
	// RotateEvery is --key-rotation (0: only on an admin's request);
	// Pending says why a rotation is due and not done yet ("" when none).
	RotateEvery time.Duration `json:"rotate_every"`
	Pending     string        `json:"pending,omitempty"`
}

// AccessView is the access-policy part of status.
type AccessView struct {
	filter.Status
	// Note explains a policy that is not enforced here.
	Note string `json:"note,omitempty"`
}

// UpdateView is the self-update part of status.
type UpdateView struct {
	// Trial is the version on trial, when one is: it must reach the
	// server before Deadline, within MaxStarts starts.
	Trial *TrialView         `json:"trial,omitempty"`
	Last  *wire.UpdateStatus `json:"last,omitempty"` // the last attempt's outcome
}

// TrialView describes a self-update on trial.
type TrialView struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Starts    int       `json:"starts"`
	MaxStarts int       `json:"max_starts"`
	Deadline  time.Time `json:"deadline"`
}

// UpdateState reads the self-update state from the state directory (the
// same whether the agent runs or not).
func UpdateState(stateDir string) UpdateView {
	v := UpdateView{Last: update.Last(stateDir)}
	if m, ok := update.Pending(stateDir); ok {
		max := m.MaxStarts
		if max <= 0 {
			max = update.DefaultMaxStarts
		}
		v.Trial = &TrialView{From: m.From, To: m.To, Starts: m.Starts, MaxStarts: max, Deadline: m.Deadline.UTC()}
	}
	return v
}

// RoutesView is the routes part of status.
type RoutesView struct {
	Advertised []string `json:"advertised,omitempty"` // offered to the fleet (pending until approved)
	Exit       bool     `json:"advertise_exit_node,omitempty"`
	Serving    []string `json:"serving,omitempty"` // approved: this machine forwards to them
	SNAT       bool     `json:"snat,omitempty"`
	// Using are the routes of others this machine may use, each via
	// which peer (or why not).
	Using    []routes.Route `json:"using,omitempty"`
	ExitNode string         `json:"exit_node,omitempty"` // the one chosen (--exit-node)
	Error    string         `json:"error,omitempty"`
	// Failing is why this router's route check fails.
	Failing string `json:"failing,omitempty"`
}

// routesView fills status; e.mu is held.
func (e *Engine) routesView() *RoutesView {
	adv := e.Routing.Advert()
	v := &RoutesView{Advertised: adv.Routes, Exit: adv.ExitNode, Serving: e.rt.serve, SNAT: len(e.rt.serve) > 0 && !e.Routing.NoSNAT,
		Using: e.rt.plan, Error: strings.TrimPrefix(e.rt.err+"; "+e.rt.advErr, "; "), Failing: e.rt.failing}
	v.Error = strings.TrimSuffix(v.Error, "; ")
	v.ExitNode = e.Routing.Use.ExitNode
	if len(v.Advertised) == 0 && !adv.ExitNode && len(v.Serving) == 0 && len(v.Using) == 0 && v.ExitNode == "" && v.Error == "" {
		return nil
	}
	return v
}

// Status reports the running engine's state.
func (e *Engine) Status() Status {
	cfg, cfgErr := state.LoadConfig(e.Paths.ConfigFile())
	st := Status{Enrolled: cfgErr == nil && !cfg.Revoked, Running: true, Revoked: cfg.Revoked, Server: cfg.Server, Machine: cfg.Name,
		MachineID: cfg.MachineID, IPv4: cfg.IPv4, IPv6: cfg.IPv6, Keystore: e.Store.Backend(), Version: e.Version, Tunnel: "down", Peers: []tunnel.PeerStatus{},
		Channel: cfg.EffectiveChannel(e.Channel), Update: UpdateState(e.Paths.State), DNS: e.dnsStatus(), StateDir: e.Paths.State}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.upd.following != "" {
		st.Channel = e.upd.following // what the updater follows until the next start
	}
	st.MapVer = e.view.Version()
	st.Down = e.cfg.Down
	st.Routes = e.routesView()
	if e.Flags != nil {
		fr := e.Flags.Freshness()
		st.Flags = &fr
	}
	st.LastError, st.TunnelError = e.lastErr, e.link.err
	if errors.Is(cfgErr, state.ErrCorrupt) {
		st.LastError = cfgErr.Error()
	}
	if !e.lastSync.IsZero() {
		t := e.lastSync.UTC()
		st.LastSync = &t
	}
	if self := e.view.Self(); self != nil && self.SSH != nil && e.ssh != nil {
		ss := e.ssh.Status()
		st.SSH = &ss
	}
	if self := e.view.Self(); self != nil && self.Filter != nil {
		st.Access = &AccessView{Status: filter.Status{Enforced: false, Policy: self.Filter.Policy, Rules: []string{}}}
		if e.link.tun == nil {
			st.Access.Note = "the tunnel is down"
		} else if ft, ok := e.link.tun.(filtering); ok && ft.Filter() != nil {
			st.Access.Status = ft.Filter().Status()
		} else {
			st.Access.Note = "not enforced: the kernel WireGuard device cannot filter; peers are still limited to the policy's (use --wireguard userspace to enforce ports)"
		}
	}
	if e.cancel != nil {
		born := e.cfg.KeyCreatedAt
		if born.IsZero() {
			born = e.cfg.EnrolledAt
		}
		st.Key = &KeyView{PublicKey: e.link.cfg.PrivateKey.PublicKey().String(), CreatedAt: born, RotateEvery: e.KeyRotation}
		e.mu.Unlock()
		st.Key.Pending = e.keyDue(e.now())
		e.mu.Lock()
	}
	if e.link.tun != nil {
		st.Tunnel, st.Interface, st.WireGuard = "up", e.link.tun.Name(), e.link.tun.Mode()
		if v6, ok := e.link.tun.(interface{ IPv6Off() bool }); ok {
			st.IPv6Off = v6.IPv6Off()
		}
		if ps, err := e.link.tun.Peers(); err == nil && ps != nil {
			st.Peers = ps
		}
		st.Paths = e.link.tun.PathStatus()
	}
	return st
}
