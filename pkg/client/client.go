// Package client is a typed HTTP client for the Wirefleet protocol
// (pkg/wire), used by the agent, the server's admin CLI and the tests.
//
// Non-2xx answers come back as *wire.Error with the server's stable code, so
// callers switch on codes: errors.As(err, &we) && we.Code == wire.CodeMachineRevoked.
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/pin"
	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Client talks to one Wirefleet server.
type Client struct {
	base  string
	http  *http.Client
	token atomic.Pointer[string]   // replaced by SetToken (a rotated credential)
	pins  atomic.Pointer[[][]byte] // SPKI hashes accepted (WithPins, SetPins)
	// server holds the addresses this client's connections reached (the
	// server, a replica, a load balancer), for ServerAddrs.
	server sync.Map // netip.Addr → struct{}
	mark   uint32   // SO_MARK on every connection (WithMark); 0: none
}

// WithMark marks every connection the client opens with SO_MARK (Linux):
// an agent whose internet goes through an exit node routes its own
// connections to the server and the relay outside the tunnel by it. The
// transport reads the mark when it dials, so options may come in any
// order.
func WithMark(mark uint32) Option {
	return func(c *Client) error { c.mark = mark; return nil }
}

// ServerAddrs returns the addresses the client's connections to the
// server went to. An agent never routes these into its tunnel: its
// connection to the server, and to the relay, would go with them.
func (c *Client) ServerAddrs() []netip.Addr {
	var out []netip.Addr
	c.server.Range(func(k, _ any) bool {
		out = append(out, k.(netip.Addr))
		return true
	})
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Option configures a Client.
type Option func(*Client) error

// WithToken sets the bearer credential: a machine credential (wfm_…) or an
// admin API key (wfa_…).
func WithToken(tok string) Option {
	return func(c *Client) error { c.token.Store(&tok); return nil }
}

// SetToken replaces the bearer credential for the requests that follow
// (an agent's rotated machine credential).
func (c *Client) SetToken(tok string) { c.token.Store(&tok) }

// bearer returns the credential requests carry ("" for none).
func (c *Client) bearer() string {
	if t := c.token.Load(); t != nil {
		return *t
	}
	return ""
}

// WithHTTPClient replaces the HTTP client (tests, custom transports).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error { c.http = h; return nil }
}

// WithPin trusts exactly the server certificate whose SubjectPublicKeyInfo
// hashes to pin ("sha256/<base64>"), instead of the system roots. This is
// how agents trust a server with a self-signed certificate.
func WithPin(pin string) Option { return WithPins(pin) }

// WithPins trusts a server certificate whose key matches any of pins: the
// server's current key and the next one it announced (see SetPins).
func WithPins(pins ...string) Option {
	return func(c *Client) error {
		if err := c.SetPins(pins); err != nil {
			return err
		}
		tr := c.newTransport()
		tr.TLSClientConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Chain verification is replaced by the pin check below.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("client: server sent no certificate")
				}
				got := pin.SPKIHash(cs.PeerCertificates[0])
				for _, want := range *c.pins.Load() {
					if bytes.Equal(got, want) {
						return nil
					}
				}
				return fmt.Errorf("client: server certificate does not match pin %s (got %s)", strings.Join(c.Pins(), " or "), pin.Format(got))
			},
		}
		c.http = &http.Client{Transport: tr}
		return nil
	}
}

// SetPins replaces the pins connections made from now on are checked
// against (an agent learns the server's next key from its map before the
// server rotates to it). Only a client made WithPins checks pins.
func (c *Client) SetPins(pins []string) error {
	if len(pins) == 0 {
		return errors.New("client: no pin")
	}
	hashes := make([][]byte, 0, len(pins))
	for _, p := range pins {
		h, err := pin.Parse(p)
		if err != nil {
			return err
		}
		hashes = append(hashes, h)
	}
	c.pins.Store(&hashes)
	return nil
}

// Pins returns the pins the client accepts (none when it uses the system
// roots).
func (c *Client) Pins() []string {
	hs := c.pins.Load()
	if hs == nil {
		return nil
	}
	out := make([]string, len(*hs))
	for i, h := range *hs {
		out[i] = pin.Format(h)
	}
	return out
}

// WithUnixSocket sends every request over the Unix socket at path (the
// server's local admin socket); the URL's host is ignored.
func WithUnixSocket(path string) Option {
	return func(c *Client) error {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}
		c.http = &http.Client{Transport: tr}
		return nil
	}
}

// New returns a client for the server at baseURL (https://host:port).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q must look like https://host:port", baseURL)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/")}
	c.http = &http.Client{Transport: c.newTransport()}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// How soon a connection to a server that vanished without closing it (its
// link went down, a replica behind a load balancer died) is given up. A
// held long-poll sends nothing for a minute, so without these the kernel's
// TCP retries decide: about 16 minutes on Linux.
var (
	// HTTP/2 (every TLS connection): after pingAfter without a frame from
	// the server the client pings; no answer within pingTimeout closes the
	// connection and fails every request on it. (Variables for tests.)
	pingAfter   = 10 * time.Second
	pingTimeout = 5 * time.Second
)

const (
	// TCP (also plain HTTP): keep-alive probes after 5 s of silence, every
	// 3 s; on Linux TCP_USER_TIMEOUT gives up after 15 s without an
	// acknowledgement (probes included).
	keepIdle     = 5 * time.Second
	keepInterval = 3 * time.Second
	keepCount    = 3
	userTimeout  = 15 * time.Second
	// pollGrace is how much longer than its ?wait a long-poll may take
	// before the client gives up on it (the server's jitter, a slow
	// network): a server that accepts connections and pings but never
	// answers does not hold an agent forever either.
	pollGrace = 30 * time.Second
)

// newTransport is http.DefaultTransport with the liveness checks above;
// it notes where its connections go (ServerAddrs).
func (c *Client) newTransport() *http.Transport {
	d := &net.Dialer{
		Timeout:         10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepIdle, Interval: keepInterval, Count: keepCount},
		Control: func(network, address string, rc syscall.RawConn) error {
			if err := setUserTimeout(network, address, rc); err != nil {
				return err
			}
			if c.mark != 0 {
				return setMark(rc, c.mark)
			}
			return nil
		},
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			if ap, perr := netip.ParseAddrPort(conn.RemoteAddr().String()); perr == nil {
				c.server.Store(ap.Addr().Unmap(), struct{}{})
			}
		}
		return conn, err
	}
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingTimeout}
	return tr
}

// do sends a JSON request and decodes a JSON answer into out (when not nil).
// Do sends in (if not nil) as JSON to path and decodes the answer into out
// (if not nil), with the client's credential; errors are as for the typed
// methods. It is for callers that want only part of an answer, such as the
// fleet simulator, which decodes network maps into a slimmer struct.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send sends req with the client's credential and decodes the answer into
// out (nil: discarded), or returns the server's error.
func (c *Client) send(req *http.Request, out any) error {
	method, path := req.Method, strings.TrimPrefix(req.URL.String(), c.base)
	req.Header.Set("Accept", "application/json")
	if tok := c.bearer(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var er wire.ErrorResponse
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &er) == nil && er.Error != nil && er.Error.Code != "" {
			er.Error.Status = resp.StatusCode
			return er.Error
		}
		return &wire.Error{Code: wire.CodeInternal, Status: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok { // a file, as it is (a recording)
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("client: read %s %s: %w", method, path, err)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decode %s %s: %w", method, path, err)
	}
	return nil
}

// Enroll registers this machine with a token.
func (c *Client) Enroll(ctx context.Context, req wire.EnrollRequest) (wire.EnrollResponse, error) {
	var out wire.EnrollResponse
	return out, c.do(ctx, http.MethodPost, wire.PathEnroll, req, &out)
}

// RequestEnrollment asks to join without a token (Token is ignored): an
// admin approves the returned code at its URL, and the agent waits for the
// decision with WaitEnrollment on a client holding the returned secret.
func (c *Client) RequestEnrollment(ctx context.Context, req wire.EnrollRequest) (wire.InteractiveEnrollResponse, error) {
	var out wire.InteractiveEnrollResponse
	req.Token = ""
	return out, c.do(ctx, http.MethodPost, wire.PathEnrollInteractive, req, &out)
}

// WaitEnrollment waits up to wait for an admin's decision on this
// client's interactive enrollment (its token is the request's secret).
// done is false while nobody decided: ask again. A denial or an expiry is
// an error with code enrollment_denied or enrollment_expired.
func (c *Client) WaitEnrollment(ctx context.Context, wait time.Duration) (resp wire.EnrollResponse, done bool, err error) {
	q := url.Values{"wait": {strconv.Itoa(int(wait / time.Second))}}
	if err := c.do(ctx, http.MethodGet, wire.PathEnrollWait+"?"+q.Encode(), nil, &resp); err != nil {
		return resp, false, err
	}
	return resp, resp.MachineID != "", nil
}

// Enrollments lists the interactive enrollments waiting for a decision.
func (c *Client) Enrollments(ctx context.Context) ([]wire.PendingEnrollment, error) {
	var out []wire.PendingEnrollment
	return out, c.do(ctx, http.MethodGet, wire.PathEnrollments, nil, &out)
}

// DecideEnrollment approves or denies an interactive enrollment by code.
func (c *Client) DecideEnrollment(ctx context.Context, code string, approve bool) (wire.PendingEnrollment, error) {
	d := "deny"
	if approve {
		d = "approve"
	}
	var out wire.PendingEnrollment
	return out, c.do(ctx, http.MethodPost, wire.PathEnrollments+"/"+url.PathEscape(code)+"/"+d, nil, &out)
}

// NoWait asks Netmap for an answer at once instead of a long-poll.
const NoWait time.Duration = -1

// Netmap long-polls the network map: it returns at once when the map
// changed after since, else after up to wait (0 = the server's maximum;
// NoWait = do not hold the request).
func (c *Client) Netmap(ctx context.Context, since uint64, wait time.Duration) (wire.NetMap, error) {
	var out wire.NetMap
	p := wire.PathNetmap + "?since=" + strconv.FormatUint(since, 10)
	switch {
	case wait == NoWait:
		p += "&wait=0"
	case wait > 0:
		p += "&wait=" + strconv.Itoa(int(wait/time.Second))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait+pollGrace)
		defer cancel()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// ReportEndpoints tells the server where this machine can be reached.
func (c *Client) ReportEndpoints(ctx context.Context, req wire.EndpointsRequest) (wire.EndpointsRequest, error) {
	var out wire.EndpointsRequest
	return out, c.do(ctx, http.MethodPost, wire.PathEndpoints, req, &out)
}

// Rekey replaces this machine's WireGuard public key.
func (c *Client) Rekey(ctx context.Context, publicKey string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodPost, wire.PathRekey, wire.RekeyRequest{PublicKey: publicKey}, &out)
}

// ServerInfo describes the server.
func (c *Client) ServerInfo(ctx context.Context) (wire.ServerInfo, error) {
	var out wire.ServerInfo
	return out, c.do(ctx, http.MethodGet, wire.PathServer, nil, &out)
}

// CreateToken creates an enrollment token; the secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req wire.CreateTokenRequest) (wire.CreateTokenResponse, error) {
	var out wire.CreateTokenResponse
	return out, c.do(ctx, http.MethodPost, wire.PathTokens, req, &out)
}

// ListTokens lists enrollment tokens.
func (c *Client) ListTokens(ctx context.Context) ([]wire.Token, error) {
	var out []wire.Token
	return out, c.do(ctx, http.MethodGet, wire.PathTokens, nil, &out)
}

// RevokeToken revokes a token by ID or prefix.
func (c *Client) RevokeToken(ctx context.Context, id string) (wire.Token, error) {
	var out wire.Token
	return out, c.do(ctx, http.MethodDelete, wire.PathTokens+"/"+url.PathEscape(id), nil, &out)
}

// MachineFilter narrows ListMachines; empty fields match everything.
type MachineFilter struct {
	State, Tag, Name string
	// Facts are KEY=VALUE inventory filters (wire.FactKeys), all of
	// which a machine must match.
	Facts []string
}

func (f MachineFilter) path(format string) string {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "tag": f.Tag, "name": f.Name, "format": format} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, ff := range f.Facts {
		q.Add("fact", ff)
	}
	p := wire.PathMachines
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// ListMachines lists machines.
func (c *Client) ListMachines(ctx context.Context, f MachineFilter) ([]wire.Machine, error) {
	var out []wire.Machine
	return out, c.do(ctx, http.MethodGet, f.path(""), nil, &out)
}

// InventoryCSV returns the machines' inventory (their facts) as CSV.
func (c *Client) InventoryCSV(ctx context.Context, f MachineFilter) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+f.path("csv"), nil)
	if err != nil {
		return nil, err
	}
	if tok := c.bearer(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: inventory: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("client: inventory: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var er wire.ErrorResponse
		if json.Unmarshal(b, &er) == nil && er.Error != nil {
			er.Error.Status = resp.StatusCode
			return nil, er.Error
		}
		return nil, fmt.Errorf("client: inventory: HTTP %d", resp.StatusCode)
	}
	return b, nil
}

// Machine returns a machine by ID or name.
func (c *Client) Machine(ctx context.Context, id string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodGet, wire.PathMachines+"/"+url.PathEscape(id), nil, &out)
}

// UpdateMachine renames or re-tags a machine.
func (c *Client) UpdateMachine(ctx context.Context, id string, req wire.UpdateMachineRequest) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodPatch, wire.PathMachines+"/"+url.PathEscape(id), req, &out)
}

// RevokeMachine revokes a machine; its credential stops working at once.
func (c *Client) RevokeMachine(ctx context.Context, id string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodPost, wire.PathMachines+"/"+url.PathEscape(id)+"/revoke", nil, &out)
}

// Reauth re-authenticates this (expired) machine with an enrollment token:
// it keeps its name, addresses and keys.
func (c *Client) Reauth(ctx context.Context, token string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodPost, wire.PathReauth, wire.ReauthRequest{Token: token}, &out)
}

// NextCredential asks for this machine's next credential. It works beside
// the current one until its first use; store it before using it.
func (c *Client) NextCredential(ctx context.Context) (string, error) {
	var out wire.CredentialResponse
	if err := c.do(ctx, http.MethodPost, wire.PathCredential, nil, &out); err != nil {
		return "", err
	}
	return out.Credential, nil
}

// RotateTLS makes the server serve with its announced next TLS key.
func (c *Client) RotateTLS(ctx context.Context, force bool) (wire.TLSRotateResponse, error) {
	var out wire.TLSRotateResponse
	return out, c.do(ctx, http.MethodPost, wire.PathTLSRotate, wire.TLSRotateRequest{Force: force}, &out)
}

// Secrets lists the server's own secrets: sealed or plain, ages, the KEK's source.
func (c *Client) Secrets(ctx context.Context) (wire.SecretsStatus, error) {
	var out wire.SecretsStatus
	return out, c.do(ctx, http.MethodGet, wire.PathSecrets, nil, &out)
}

// SealSecrets seals a plain server's secrets in place.
func (c *Client) SealSecrets(ctx context.Context) (wire.SecretsStatus, error) {
	var out wire.SecretsStatus
	return out, c.do(ctx, http.MethodPost, wire.PathSecrets+"/seal", nil, &out)
}

// RotateSecret replaces one of the server's secrets.
func (c *Client) RotateSecret(ctx context.Context, req wire.RotateSecretRequest) (wire.RotateSecretResponse, error) {
	var out wire.RotateSecretResponse
	return out, c.do(ctx, http.MethodPost, wire.PathSecrets+"/rotate", req, &out)
}

// RotateKey asks a machine's agent to replace its WireGuard key now.
func (c *Client) RotateKey(ctx context.Context, id string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodPost, wire.PathMachines+"/"+url.PathEscape(id)+"/rotate-key", nil, &out)
}

// RotateAllKeys asks every active machine to replace its WireGuard key.
func (c *Client) RotateAllKeys(ctx context.Context) (wire.RotateKeysResponse, error) {
	var out wire.RotateKeysResponse
	return out, c.do(ctx, http.MethodPost, wire.PathRotateKeys, nil, &out)
}

// DeleteMachine deletes a machine.
func (c *Client) DeleteMachine(ctx context.Context, id string) (wire.Machine, error) {
	var out wire.Machine
	return out, c.do(ctx, http.MethodDelete, wire.PathMachines+"/"+url.PathEscape(id), nil, &out)
}

// AuditFilter narrows Audit; zero fields match everything.
type AuditFilter struct {
	Before                int64
	Limit                 int
	Action, Target, Actor string
}

// Audit returns a page of the audit log, newest first.
func (c *Client) Audit(ctx context.Context, f AuditFilter) (wire.AuditPage, error) {
	q := url.Values{}
	if f.Before > 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	for k, v := range map[string]string{"action": f.Action, "target": f.Target, "actor": f.Actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	p := wire.PathAudit
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out wire.AuditPage
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// CreateAPIKey creates an admin API key.
func (c *Client) CreateAPIKey(ctx context.Context, req wire.CreateAPIKeyRequest) (wire.CreateAPIKeyResponse, error) {
	var out wire.CreateAPIKeyResponse
	return out, c.do(ctx, http.MethodPost, wire.PathAPIKeys, req, &out)
}

// ListAPIKeys lists admin API keys.
func (c *Client) ListAPIKeys(ctx context.Context) ([]wire.APIKey, error) {
	var out []wire.APIKey
	return out, c.do(ctx, http.MethodGet, wire.PathAPIKeys, nil, &out)
}

// RevokeAPIKey revokes an API key by ID or prefix.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, wire.PathAPIKeys+"/"+url.PathEscape(id), nil, nil)
}

// CreateAdmin creates an admin; the password and API key are in the answer only.
func (c *Client) CreateAdmin(ctx context.Context, name string) (wire.CreateAdminResponse, error) {
	var out wire.CreateAdminResponse
	return out, c.do(ctx, http.MethodPost, wire.PathAdmins, wire.CreateAdminRequest{Name: name}, &out)
}

// ListAdmins lists admins.
func (c *Client) ListAdmins(ctx context.Context) ([]wire.Admin, error) {
	var out []wire.Admin
	return out, c.do(ctx, http.MethodGet, wire.PathAdmins, nil, &out)
}

// DeleteAdmin deletes an admin by ID or name.
func (c *Client) DeleteAdmin(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, wire.PathAdmins+"/"+url.PathEscape(id), nil, nil)
}

// HTTPClient returns the underlying HTTP client, with the pinning or socket
// transport the options installed, for requests outside the API (health
// checks, metrics, installer downloads).
func (c *Client) HTTPClient() *http.Client { return c.http }

// ReportHealth posts a health report for this machine.
func (c *Client) ReportHealth(ctx context.Context, r wire.HealthReport) (wire.HealthAck, error) {
	var ack wire.HealthAck
	return ack, c.do(ctx, http.MethodPost, wire.PathHealth, r, &ack)
}

// Health returns a machine's latest health report and up to limit history
// entries (0 = the server's default).
func (c *Client) Health(ctx context.Context, id string, limit int) (wire.MachineHealth, error) {
	var out wire.MachineHealth
	p := wire.PathMachines + "/" + url.PathEscape(id) + "/health"
	if limit > 0 {
		p += "?limit=" + strconv.Itoa(limit)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// ReportFlows sends an agent's flow records, gzip-compressed (records
// repeat the same addresses and words: about a tenth of the JSON).
func (c *Client) ReportFlows(ctx context.Context, r wire.FlowReport) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return fmt.Errorf("client: encode flows: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("client: compress flows: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+wire.PathAgentFlows, &buf)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	return c.send(req, nil)
}

// Flows returns a page of flow records matching f, newest first.
func (c *Client) Flows(ctx context.Context, f FlowFilter) (wire.FlowsResponse, error) {
	var out wire.FlowsResponse
	return out, c.do(ctx, http.MethodGet, wire.PathFlows+"?"+f.query().Encode(), nil, &out)
}

// FlowFilter selects flow records (zero fields select everything).
type FlowFilter struct {
	Machine string // a machine (name or ID) at either end
	Addr    string // an overlay address at either end
	Port    uint16 // the destination port
	Verdict string // allowed, denied
	Since   time.Time
	Until   time.Time
	Limit   int
	Cursor  string
}

func (f FlowFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("machine", f.Machine)
	set("addr", f.Addr)
	set("verdict", f.Verdict)
	set("cursor", f.Cursor)
	if f.Port > 0 {
		q.Set("port", strconv.Itoa(int(f.Port)))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Logout tells the server this machine is leaving; its credential stops
// working at once (the server revokes it).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, wire.PathLogout, nil, nil)
}

// ResetPassword gives an admin a new random password (returned once) and
// signs its web sessions out.
func (c *Client) ResetPassword(ctx context.Context, admin string) (wire.PasswordResponse, error) {
	var out wire.PasswordResponse
	return out, c.do(ctx, http.MethodPost, wire.PathAdmins+"/"+url.PathEscape(admin)+"/password", nil, &out)
}

// ListFlags lists feature flags.
func (c *Client) ListFlags(ctx context.Context) ([]wire.Flag, error) {
	var out []wire.Flag
	return out, c.do(ctx, http.MethodGet, wire.PathFlags, nil, &out)
}

// Flag returns one flag.
func (c *Client) Flag(ctx context.Context, key string) (wire.Flag, error) {
	var out wire.Flag
	return out, c.do(ctx, http.MethodGet, wire.PathFlags+"/"+url.PathEscape(key), nil, &out)
}

// SetFlag creates or replaces a flag.
func (c *Client) SetFlag(ctx context.Context, f wire.Flag) (wire.Flag, error) {
	var out wire.Flag
	return out, c.do(ctx, http.MethodPut, wire.PathFlags+"/"+url.PathEscape(f.Key), f, &out)
}

// DeleteFlag deletes a flag.
func (c *Client) DeleteFlag(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodDelete, wire.PathFlags+"/"+url.PathEscape(key), nil, nil)
}

// AgentFlags fetches this machine's flag set. With etag set, the server
// answers "not modified" (notModified true, set empty) when nothing
// changed, after holding the request up to wait for a change.
func (c *Client) AgentFlags(ctx context.Context, etag string, wait time.Duration) (set wire.FlagSet, newETag string, notModified bool, err error) {
	p := wire.PathAgentFlags
	if wait > 0 {
		p += "?wait=" + strconv.Itoa(int(wait/time.Second))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait+pollGrace)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+p, nil)
	if err != nil {
		return set, "", false, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.bearer())
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return set, "", false, fmt.Errorf("client: GET %s: %w", p, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return set, etag, true, nil
	case resp.StatusCode >= 300:
		var er wire.ErrorResponse
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &er) == nil && er.Error != nil {
			er.Error.Status = resp.StatusCode
			return set, "", false, er.Error
		}
		return set, "", false, &wire.Error{Code: wire.CodeInternal, Status: resp.StatusCode, Message: fmt.Sprintf("GET %s: HTTP %d", p, resp.StatusCode)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&set); err != nil {
		return set, "", false, fmt.Errorf("client: decode flags: %w", err)
	}
	return set, resp.Header.Get("ETag"), false, nil
}

// UploadReleaseFile uploads a release binary.
func (c *Client) UploadReleaseFile(ctx context.Context, name string, r io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+wire.PathReleases+"/files/"+url.PathEscape(name), r)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+c.bearer())
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var er wire.ErrorResponse
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &er) == nil && er.Error != nil {
			return er.Error
		}
		return fmt.Errorf("client: upload %s: HTTP %d", name, resp.StatusCode)
	}
	return nil
}

// PublishKeys uploads the release root key and its signed keys.json.
func (c *Client) PublishKeys(ctx context.Context, req wire.PublishKeysRequest) error {
	return c.do(ctx, http.MethodPut, wire.PathReleases+"/keys", req, nil)
}

// PublishManifest uploads a channel's signed manifest; out receives the
// manifest as the server accepted it.
func (c *Client) PublishManifest(ctx context.Context, channel string, req wire.PublishManifestRequest, out any) error {
	return c.do(ctx, http.MethodPut, wire.PathReleases+"/channels/"+url.PathEscape(channel), req, out)
}

// Releases lists channels and the agent versions machines run.
func (c *Client) Releases(ctx context.Context) (wire.ReleasesInfo, error) {
	var out wire.ReleasesInfo
	return out, c.do(ctx, http.MethodGet, wire.PathReleases, nil, &out)
}

// PauseRollout pauses (or, with pause false, resumes) a channel's rollout.
func (c *Client) PauseRollout(ctx context.Context, channel string, pause bool) error {
	action := "resume"
	if pause {
		action = "pause"
	}
	return c.do(ctx, http.MethodPost, wire.PathReleases+"/channels/"+url.PathEscape(channel)+"/"+action, nil, nil)
}

// DialRelay opens the packet relay's WebSocket (wire.PathRelay) with the
// client's credential and TLS settings (pin included). It always speaks
// HTTP/1.1, which the WebSocket upgrade needs.
func (c *Client) DialRelay(ctx context.Context) (*websocket.Conn, error) {
	hc := c.websocketHTTP()
	u := "ws" + strings.TrimPrefix(c.base, "http") + wire.PathRelay
	h := http.Header{}
	if tok := c.bearer(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	// Offering Protocol2 lets a server that knows batches send several
	// packets per message; an older one ignores the offer.
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h, CompressionMode: websocket.CompressionDisabled,
		Subprotocols: []string{relayframe.Protocol2}})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, fmt.Errorf("client: relay: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("client: relay: %w", err)
	}
	return conn, nil
}

// websocketHTTP is the pinned HTTP client for a WebSocket: HTTP/1.1, the
// only version the WebSocket upgrade works over here.
func (c *Client) websocketHTTP() *http.Client {
	hc := *c.http
	if tr, ok := c.http.Transport.(*http.Transport); ok {
		tr = tr.Clone()
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		if tr.TLSClientConfig != nil {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		hc.Transport = tr
	}
	return &hc
}

// Policy fetches the access-control policy in force.
func (c *Client) Policy(ctx context.Context) (wire.Policy, error) {
	var out wire.Policy
	return out, c.do(ctx, http.MethodGet, wire.PathPolicy, nil, &out)
}

// SetPolicy replaces the access-control policy (or, with DryRun, checks
// it). A policy with problems fails with wire.CodePolicyInvalid and the
// problems in the *wire.Error.
func (c *Client) SetPolicy(ctx context.Context, req wire.PutPolicyRequest) (wire.Policy, error) {
	var out wire.Policy
	return out, c.do(ctx, http.MethodPut, wire.PathPolicy, req, &out)
}

// QueryPolicy asks whether the policy in force lets q.Src reach q.Dst.
func (c *Client) QueryPolicy(ctx context.Context, q wire.PolicyQuery) (wire.PolicyAnswer, error) {
	var out wire.PolicyAnswer
	return out, c.do(ctx, http.MethodPost, wire.PathPolicyQuery, q, &out)
}

// DNSRecords lists the fleet's DNS records and its domain.
func (c *Client) DNSRecords(ctx context.Context) (wire.DNSRecordsResponse, error) {
	var out wire.DNSRecordsResponse
	return out, c.do(ctx, http.MethodGet, wire.PathDNSRecords, nil, &out)
}

// AddDNSRecord adds a record to the fleet's domain; it returns the record
// as stored (canonical).
func (c *Client) AddDNSRecord(ctx context.Context, r wire.DNSRecord) (wire.DNSRecord, error) {
	var out wire.DNSRecord
	return out, c.do(ctx, http.MethodPost, wire.PathDNSRecords, r, &out)
}

// RemoveDNSRecords removes a name's records (only those of rtype, when
// given) and returns them.
func (c *Client) RemoveDNSRecords(ctx context.Context, name, rtype string) ([]wire.DNSRecord, error) {
	var out wire.DNSRecordsResponse
	p := wire.PathDNSRecords + "/" + url.PathEscape(name)
	if rtype != "" {
		p += "?type=" + url.QueryEscape(rtype)
	}
	return out.Records, c.do(ctx, http.MethodDelete, p, nil, &out)
}

// RemoveDNSRecord removes one record: name's record of rtype with value.
func (c *Client) RemoveDNSRecord(ctx context.Context, name, rtype, value string) error {
	var out wire.DNSRecordsResponse
	q := url.Values{"type": {rtype}, "value": {value}}
	return c.do(ctx, http.MethodDelete, wire.PathDNSRecords+"/"+url.PathEscape(name)+"?"+q.Encode(), nil, &out)
}

// AdvertiseRoutes tells the server what this machine advertises as a
// subnet router or exit node (the whole set); it returns the set as
// stored.
func (c *Client) AdvertiseRoutes(ctx context.Context, adv wire.RoutesAdvert) (wire.RoutesAdvert, error) {
	var out wire.RoutesAdvert
	return out, c.do(ctx, http.MethodPost, wire.PathAgentRoutes, adv, &out)
}

// CheckPeerRelay asks, as a relay machine, whether the machines with the
// WireGuard keys a and b may use it between them (nil: yes; a
// *wire.Error with CodeForbidden: no; CodeNotFound: we are no relay).
func (c *Client) CheckPeerRelay(ctx context.Context, a, b string) error {
	return c.do(ctx, http.MethodPost, wire.PathAgentPeerRelay, wire.PeerRelayCheck{A: a, B: b}, nil)
}

// Routes lists every route active machines advertise.
func (c *Client) Routes(ctx context.Context) (wire.RoutesResponse, error) {
	var out wire.RoutesResponse
	return out, c.do(ctx, http.MethodGet, wire.PathRoutes, nil, &out)
}

// DecideRoutes approves (or rejects) some of a machine's routes; it
// returns the machine.
func (c *Client) DecideRoutes(ctx context.Context, machine string, d wire.RouteDecision, approve bool) (wire.Machine, error) {
	action := "approve"
	if !approve {
		action = "reject"
	}
	var out wire.Machine
	return out, c.do(ctx, http.MethodPost, wire.PathRoutes+"/"+url.PathEscape(machine)+"/"+action, d, &out)
}
