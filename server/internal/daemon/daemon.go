// Package daemon runs wirefleet-server: it opens the store, builds the
// network-map hub and the API, listens on TCP (TLS by default) and on the
// root-only admin socket, runs the background jobs, and shuts down cleanly.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/pin"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/api"
	"github.com/wirefleet/wirefleet/server/internal/connlimit"
	"github.com/wirefleet/wirefleet/server/internal/console"
	"github.com/wirefleet/wirefleet/server/internal/datalock"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/flowexport"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
	"github.com/wirefleet/wirefleet/server/internal/presence"
	"github.com/wirefleet/wirefleet/server/internal/relay"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
	"github.com/wirefleet/wirefleet/server/internal/sso"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"github.com/wirefleet/wirefleet/server/internal/stunserver"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
	"github.com/wirefleet/wirefleet/server/internal/web"
)

// Version is the server's version, stamped at build time.
var Version = "dev"

// SocketName is the admin socket's file name in the data directory.
const SocketName = "wirefleet.sock"

// Options configure Run.
type Options struct {
	Listen       string // TCP address, e.g. ":8443"
	DataDir      string
	DB           string // database URL; default sqlite://<DataDir>/wirefleet.db
	InsecureHTTP bool
	TLSCert      string
	TLSKey       string
	// TLSRotateEvery rotates the self-signed TLS key when its certificate
	// is this old, once every active agent holds the next key (0: only
	// `tls rotate`).
	TLSRotateEvery time.Duration
	// ACME obtains the certificate from an ACME CA (ACME.Domains set):
	// one-liners then carry no pin.
	ACME        tlsutil.ACMEOptions
	ExternalURL string // URL agents use; default derived from Listen and the hostname

	EnrollRate   float64 // enrollment attempts per minute per IP (0 = unlimited)
	EnrollBurst  int
	LongPoll     time.Duration // network-map long-poll hold time
	EphemeralTTL time.Duration // remove ephemeral machines offline this long
	// AuditRetention is how long audit events are kept (0: forever).
	AuditRetention time.Duration
	// FlowRetention is how long flow records are kept (0: forever), and
	// FlowMaxRecords how many at most (0: no bound): the oldest go first.
	FlowRetention  time.Duration
	FlowMaxRecords int64
	// DeprovisionMachines is what happens to the machines of a person the
	// directory deactivates or deletes: expire (default), revoke, keep.
	DeprovisionMachines string
	// FlowOTLPURL sends flow records to an OpenTelemetry collector
	// (OTLP/HTTP logs), with FlowOTLPHeaders; FlowJSONL appends them as
	// JSON lines to a file ("-": standard output).
	FlowOTLPURL     string
	FlowOTLPHeaders map[string]string
	FlowJSONL       string
	// MachineExpiry is how long a machine stays enrolled before it must
	// re-authenticate with a token (0: forever; a token's own wins).
	MachineExpiry time.Duration
	TokenTTL      time.Duration // default enrollment token lifetime
	BcryptCost    int           // admin password work factor (default 12)

	// STUNListen is the UDP address of the STUN responder ("" or "off":
	// none); STUNAdvertise the host:port agents are told to use (default:
	// the external URL's host and the listener's port).
	STUNListen string
	// DNSDomain is --dns-domain: agents answer NAME.<DNSDomain> ("" or
	// "off": no names).
	DNSDomain     string
	STUNAdvertise string
	// NoRelay turns the packet relay off; RelayRate is each machine's
	// relay budget in bytes per second (0: the relay's default).
	NoRelay   bool
	RelayRate float64
	// RelayMeshKeyFile joins this replica's relay to the others' on the
	// same PostgreSQL database (a shared key; see relay.MeshConfig);
	// ReplicaURL is where they reach this one (default: derived from
	// --listen and this machine's addresses).
	RelayMeshKeyFile string
	ReplicaURL       string

	// BootstrapToken mints a single-use enrollment token at start and prints
	// its one-liner (make run uses it).
	BootstrapToken bool
	// PublishAgent, when set, signs this agent binary with release keys kept
	// in the data dir (created on first use) and publishes it for the
	// host's OS and architecture, so the one-liners work out of the box.
	PublishAgent string
	// PublishAlso are more files for the same release, "os/arch=PATH": the
	// agent cross-built for other systems and "windows/amd64-msi=PATH", the
	// MSI install.ps1 downloads. They carry PublishAgent's version.
	PublishAlso []string
	// MaxConnsPerIP caps the connections one source address may hold open
	// (0: no cap).
	MaxConnsPerIP int
	// MemoryLimit is --memory-limit: auto, off or a size (see applyMemoryLimit).
	MemoryLimit string
	// Secrets is --secrets: sealed, plain or auto (sealed unless the data
	// directory already holds plain secrets); SecretsKEK says where the
	// key-encryption key comes from.
	Secrets    string
	SecretsKEK sealed.KEKOptions
	// PlainFallbackUntil, when set, is the day after which plain secrets
	// (files in the data directory, flags' secret files once sealed) are
	// refused.
	PlainFallbackUntil time.Time
	// MaxSecretAge is the age past which secrets status and doctor warn
	// (default DefaultMaxSecretAge).
	MaxSecretAge time.Duration
	// MetricsListen, when set, serves /metrics without authentication on
	// its own listener (loopback or a monitoring network). On the main
	// port /metrics needs the token in MetricsTokenFile or an admin key.
	MetricsListen    string
	MetricsTokenFile string
	// OIDC signs admins in through an OpenID provider (Issuer set);
	// NoPasswordLogin then turns password sign-in off.
	OIDC            OIDCOptions
	NoPasswordLogin bool
	// ReleasesDir holds published releases (default <data-dir>/releases).
	// Replicas share it (a network file system) or are each published to.
	ReleasesDir string

	Logger *slog.Logger
	// Ready, when set, receives the server's URL and pin once it listens.
	Ready func(url, pin string)
}

// Run runs the server until ctx ends. Secrets shown once (the first admin's
// credentials, a bootstrap token) go to out, never to the log.
func Run(ctx context.Context, o Options, out io.Writer) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if _, err := applyMemoryLimit(o.MemoryLimit, log); err != nil {
		return err
	}
	dnsDomain, err := checkDNSDomain(o.DNSDomain)
	if err != nil {
		return err
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--machine-expiry", o.MachineExpiry}, {"--tls-rotate-every", o.TLSRotateEvery}, {"--flow-retention", o.FlowRetention}} {
		if d.v < 0 || d.v > 0 && d.v < time.Hour {
			return fmt.Errorf("daemon: %s %s: give at least 1h, or 0 for off", d.flag, d.v)
		}
	}
	deprovision, err := store.ParseDeprovision(o.DeprovisionMachines)
	if err != nil {
		return fmt.Errorf("daemon: --deprovision-machines: %w", err)
	}
	if o.FlowMaxRecords < 0 {
		return fmt.Errorf("daemon: --flow-max-records %d: give a count, or 0 for no bound", o.FlowMaxRecords)
	}
	if o.NoRelay && o.RelayMeshKeyFile != "" {
		return errors.New("daemon: --relay-mesh-key-file joins relays: drop --relay=false")
	}
	if len(o.ACME.Domains) > 0 && (o.InsecureHTTP || o.TLSCert != "") {
		return errors.New("daemon: --acme-domain obtains the certificate itself: drop --tls-cert/--insecure-http")
	}
	lock, db, err := openStore(ctx, &o)
	if err != nil {
		return err
	}
	defer lock.Release(false)
	defer db.Close()
	secrets, err := openSecrets(o, out, log)
	if err != nil {
		return err
	}

	// Listen first: the URL and pin printed below must be the real ones,
	// and agents are told the STUN address in their maps.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, extURL, id, err := listen(o, reg, secrets)
	if err != nil {
		return err
	}
	keys := id.keys
	pin := id.pin() // the pin of the key serving now ("" with a CA's certificate)
	var pins func() []string
	if keys != nil {
		// Agents that pin learn the next key; agents that trust CAs
		// (enrolled through ACME) ignore pins.
		pins = keys.Pins
	}
	defer ln.Close()
	stunSrv, stunAddr, err := listenSTUN(o, extURL, log, reg)
	if err != nil {
		return err
	}

	hubCtx, stopHub := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	// Every return stops the background jobs and waits for them (the
	// presence tracker flushes last-seen times) before the database
	// closes.
	defer func() { stopHub(); bg.Wait() }()
	pres := presence.New(db, log)
	bg.Add(1)
	go func() { defer bg.Done(); pres.Run(hubCtx, 30*time.Second) }()
	// A subnet router is there while its relay session is open; the relay
	// starts after the hub it reads maps from.
	var relaySrv atomic.Pointer[relay.Server]
	var routerUp func(string) bool
	if !o.NoRelay {
		routerUp = func(id string) bool { r := relaySrv.Load(); return r == nil || r.Connected(id) }
	}
	hub, err := startHub(ctx, hubCtx, db, log, &bg, netmap.Options{STUN: stunAddr, Relay: !o.NoRelay, DNSDomain: dnsDomain, ServerPins: pins, Polls: pres.Connected, RouterUp: routerUp})
	if err != nil {
		if stunSrv != nil {
			stunSrv.Close()
		}
		return err
	}
	if stunSrv != nil {
		bg.Add(1)
		go func() { defer bg.Done(); stunSrv.Serve(hubCtx) }()
	}

	releaseStore, err := openReleases(o, secrets, log)
	if err != nil {
		return err
	}
	flowExp, err := flowexport.New(ctx, flowexport.Options{OTLPURL: o.FlowOTLPURL, OTLPHeaders: o.FlowOTLPHeaders, JSONL: o.FlowJSONL})
	if err != nil {
		return err
	}
	if flowExp != nil {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := flowExp.Close(cctx); err != nil {
				log.Warn("flushing the flow record export", "err", err)
			}
		}()
		log.Info("flow records exported", "otlp", o.FlowOTLPURL, "jsonl", o.FlowJSONL)
	}
	fcfg := fleet.Config{DefaultTokenTTL: o.TokenTTL, Releases: releaseStore, BcryptCost: o.BcryptCost, MachineExpiry: o.MachineExpiry, Presence: pres,
		ServerAddrs: serverAddrs(ctx, extURL, log), Deprovision: deprovision, Secrets: secrets}
	if flowExp != nil {
		fcfg.FlowExport = flowExp
	}
	svc := fleet.New(db, hub, log, fcfg)
	var rel *relay.Server
	if !o.NoRelay {
		rel = relay.New(hub, log, reg, relay.Config{Rate: o.RelayRate, OnSession: svc.RouterSession})
		relaySrv.Store(rel)
		bg.Add(1)
		go func() { defer bg.Done(); rel.Watch(hubCtx) }()
		if err := joinMesh(hubCtx, o, db, rel, ln.Addr(), id, secrets, log, &bg); err != nil {
			return err
		}
	}
	ssoProvider, err := openSSO(ctx, o, extURL, secrets)
	if err != nil {
		return err
	}
	secrets.sso.Store(ssoProvider)
	handler, a, err := routes(o, db, svc, rel, reg, log, extURL, id, ssoProvider, secrets)
	if err != nil {
		return err
	}
	if !o.InsecureHTTP {
		handler = hsts(handler)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // long-polls extend their own deadline
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	sockPath := filepath.Join(o.DataDir, SocketName)
	sock, err := listenSocket(sockPath)
	if err != nil {
		return err
	}
	defer sock.Close()
	local := &http.Server{Handler: a.LocalHandler(), ReadHeaderTimeout: 10 * time.Second}
	metricsSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	var mln net.Listener
	if o.MetricsListen != "" {
		if mln, err = net.Listen("tcp", o.MetricsListen); err != nil {
			return fmt.Errorf("daemon: --metrics-listen: %w", err)
		}
		defer mln.Close()
	}

	if id.urlNote != "" {
		fmt.Fprintf(out, "\nNOTE: %s\n", id.urlNote)
	}
	if err := bootstrap(ctx, db, svc, o, out, extURL, pin); err != nil {
		return err
	}
	startJobs(hubCtx, db, svc, a, log, o.EphemeralTTL, retention{audit: o.AuditRetention, flows: o.FlowRetention, flowMax: o.FlowMaxRecords}, &bg)
	if keys != nil && o.TLSRotateEvery > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); rotateTLSEvery(hubCtx, svc, keys, o.TLSRotateEvery, log) }()
	}

	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- local.Serve(sock) }()
	if mln != nil {
		go func() { errc <- metricsSrv.Serve(mln) }()
		log.Info("metrics without authentication", "listen", mln.Addr().String())
	}
	log.Info("wirefleet-server listening", "url", extURL, "listen", ln.Addr().String(), "tls", !o.InsecureHTTP,
		"db", redact(o.DB), "socket", sockPath, "version", Version)
	if id.acme != nil {
		bg.Add(1)
		go func() { defer bg.Done(); obtainACME(hubCtx, id.acme, log) }()
	}
	if o.Ready != nil {
		o.Ready(extURL, pin)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("wirefleet-server shutting down")
	// Close the hub first: every held long-poll returns "unchanged" at once
	// and its agent reconnects to another replica or to us after restart.
	stopHub()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = local.Shutdown(sctx)
	_ = metricsSrv.Shutdown(sctx)
	bg.Wait()
	_ = os.Remove(sockPath)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("daemon: serve: %w", serveErr)
	}
	return nil
}

// openStore prepares the data dir (owner-only), takes its lock (one
// server per data directory; restore refuses while it is held) and opens
// the database, SQLite in the data dir unless o.DB names another.
func openStore(ctx context.Context, o *Options) (*datalock.Lock, *store.DB, error) {
	if o.DataDir == "" {
		return nil, nil, errors.New("daemon: --data-dir is required")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("daemon: create data dir: %w", err)
	}
	if err := os.Chmod(o.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("daemon: restrict data dir: %w", err)
	}
	lock, err := datalock.Acquire(o.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: %w", err)
	}
	if o.DB == "" {
		o.DB = "sqlite://" + filepath.Join(o.DataDir, "wirefleet.db")
	}
	db, err := store.Open(ctx, o.DB)
	if err != nil {
		lock.Release(false)
		return nil, nil, err
	}
	return lock, db, nil
}

// startHub loads the network map and runs the hub until hubCtx ends.
func startHub(ctx, hubCtx context.Context, db *store.DB, log *slog.Logger, bg *sync.WaitGroup, hopts netmap.Options) (*netmap.Hub, error) {
	hopts.Logger = log
	if db.IsShared() {
		// Other replicas write to the same database: look for their
		// changes twice a second, so their revocations reach our polls
		// well within a second.
		hopts.Poll = 500 * time.Millisecond
	}
	hub, err := netmap.New(ctx, db, hopts)
	if err != nil {
		return nil, err
	}
	bg.Add(1)
	go func() { defer bg.Done(); hub.Run(hubCtx) }()
	return hub, nil
}

// served is the server's TLS identity as listen set it up.
type served struct {
	keys *tlsutil.Keys // the self-signed key and its successor (nil with --tls-cert)
	// certPin is the pin of the --tls-cert certificate (other replicas
	// dial this one by address and pin what it serves).
	certPin string
	acme    *tlsutil.ACME // certificates from an ACME CA for its domains (nil without)
	// urlNote says how the external URL was chosen when that is worth
	// telling (the host name resolves only to loopback), else "".
	urlNote string
}

// pin is the pin one-liners and the server's info carry for the external
// URL: the self-signed key's, none for a CA's certificate.
func (s served) pin() string {
	if s.keys == nil || s.acme != nil {
		return ""
	}
	return s.keys.Pin()
}

// listen opens the TCP listener (TLS unless --insecure-http) and returns
// it with the URL agents should use and the server's TLS identity.
func listen(o Options, reg prometheus.Registerer, sec *serverSecrets) (net.Listener, string, served, error) {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, "", served{}, fmt.Errorf("daemon: listen on %s: %w", o.Listen, err)
	}
	refused := promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "wirefleet_connections_refused_total",
		Help: "Connections closed at accept because their source address held --max-conns-per-ip already.",
	})
	ln = connlimit.New(ln, o.MaxConnsPerIP, refused.Inc)
	extURL, host, note := externalURL(o, ln.Addr(), systemHost)
	if o.InsecureHTTP {
		return ln, extURL, served{urlNote: note}, nil
	}
	var (
		id       = served{urlNote: note}
		getCert  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
		notAfter func() time.Time
	)
	if o.TLSCert != "" || o.TLSKey != "" {
		cert, _, err := tlsutil.Load(o.TLSCert, o.TLSKey) // chains to a CA; no pin needed
		if err != nil {
			ln.Close()
			return nil, "", served{}, err
		}
		getCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
		notAfter = func() time.Time { return cert.Leaf.NotAfter }
		id.certPin = pin.Format(pin.SPKIHash(cert.Leaf))
	} else {
		if id.keys, err = tlsutil.OpenKeysIn(o.DataDir, sec.store, []string{host}); err != nil {
			ln.Close()
			return nil, "", served{}, err
		}
		getCert, notAfter = id.keys.GetCertificate, id.keys.NotAfter
	}
	protos := []string{"h2", "http/1.1"} // HTTP/2 multiplexes an agent's long-poll with its other calls
	if len(o.ACME.Domains) > 0 {
		ao := o.ACME
		ao.Cache = acmeCache{sec.store} // sealed when the store is
		// Other names (an IP address, the name pinned agents enrolled
		// with) keep the self-signed key.
		if id.acme, err = tlsutil.NewACME(ao, getCert); err != nil {
			ln.Close()
			return nil, "", served{}, err
		}
		getCert, notAfter = id.acme.GetCertificate, id.acme.NotAfter
		protos = append(protos, tlsutil.ALPNProto)
	}
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wirefleet_tls_cert_expiry_timestamp_seconds",
		Help: "When the serving certificate expires (Unix time; the ACME one once obtained).",
	}, func() float64 {
		if t := notAfter(); !t.IsZero() {
			return float64(t.Unix())
		}
		return 0
	})
	return tls.NewListener(ln, &tls.Config{
		GetCertificate: getCert,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     protos,
	}), extURL, id, nil
}

// obtainACME asks for the ACME certificates at start (the first agent
// need not wait for the CA), logging the outcome; a failure is retried by
// the next connection for the name.
func obtainACME(ctx context.Context, a *tlsutil.ACME, log *slog.Logger) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	leaf, err := a.Obtain(ctx)
	if err != nil {
		log.Error("no ACME certificate yet: the CA validates each name over TLS-ALPN on its port 443, which must reach this server's --listen; "+
			"connections for the name fail until one is issued (the next one tries again)", "domains", a.Domains(), "err", err)
		return
	}
	log.Info("ACME certificate ready; it renews itself 30 days before expiry", "domains", a.Domains(),
		"issuer", leaf.Issuer.CommonName, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "took", time.Since(t0).Round(time.Millisecond))
}

// OIDCOptions configure single sign-on for the admin page.
type OIDCOptions struct {
	Issuer, ClientID, ClientSecretFile string
	AllowedDomains, AdminGroups        []string
	// MemberDomains and MemberGroups admit users who may only approve
	// the machines they add.
	MemberDomains, MemberGroups []string
	GroupsClaim                 string
}

// openSSO discovers the OpenID provider (nil when none is configured).
func openSSO(ctx context.Context, o Options, extURL string, sec *serverSecrets) (*sso.Provider, error) {
	if o.OIDC.Issuer == "" {
		if o.NoPasswordLogin {
			return nil, errors.New("daemon: --password-login=false needs single sign-on (--oidc-issuer): nobody could sign in")
		}
		return nil, nil
	}
	secret, err := sec.fromFlag(sealed.SSOClientSecret, "--oidc-client-secret-file", o.OIDC.ClientSecretFile, o.PlainFallbackUntil)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return sso.New(dctx, sso.Config{
		Issuer: o.OIDC.Issuer, ClientID: o.OIDC.ClientID, ClientSecret: secret, RedirectURL: extURL + "/sso/callback",
		AllowedDomains: o.OIDC.AllowedDomains, AdminGroups: o.OIDC.AdminGroups, GroupsClaim: o.OIDC.GroupsClaim,
		MemberDomains: o.OIDC.MemberDomains, MemberGroups: o.OIDC.MemberGroups,
	})
}

// listenSTUN opens the STUN responder and returns it with the address
// agents are told to use ("" and nil when it is off).
func listenSTUN(o Options, extURL string, log *slog.Logger, reg prometheus.Registerer) (*stunserver.Server, string, error) {
	if o.STUNListen == "" || o.STUNListen == "off" {
		return nil, "", nil
	}
	srv, err := stunserver.Listen(o.STUNListen, log, reg)
	if err != nil {
		return nil, "", fmt.Errorf("daemon: %w (pass --stun-listen off to run without STUN)", err)
	}
	adv := o.STUNAdvertise
	if adv == "" {
		u, err := url.Parse(extURL)
		if err != nil {
			srv.Close()
			return nil, "", fmt.Errorf("daemon: external URL %q: %w", extURL, err)
		}
		adv = net.JoinHostPort(u.Hostname(), strconv.Itoa(int(srv.Addr().Port())))
	}
	if _, _, err := net.SplitHostPort(adv); err != nil {
		srv.Close()
		return nil, "", fmt.Errorf("daemon: --stun-advertise %q: want host:port", adv)
	}
	log.Info("STUN responder started", "listen", srv.Addr().String(), "advertised", adv)
	return srv, adv, nil
}

// openReleases opens the release store and, with --publish-agent,
// publishes this host's agent to it.
func openReleases(o Options, sec *serverSecrets, log *slog.Logger) (*releasestore.Store, error) {
	relDir := o.ReleasesDir
	if relDir == "" {
		relDir = filepath.Join(o.DataDir, "releases")
	}
	rel := releasestore.NewStore(relDir)
	sec.rel = rel
	if o.PublishAgent != "" {
		if err := publishAgent(o, rel, sec.releaseKeys(), log); err != nil {
			return nil, err
		}
	}
	return rel, nil
}

// routes builds the public handler: the API, health and readiness,
// metrics, releases and installers, and the admin page.
func routes(o Options, db *store.DB, svc *fleet.Service, rel *relay.Server, reg *prometheus.Registry, log *slog.Logger, extURL string, id served, ssoProvider *sso.Provider, sec *serverSecrets) (http.Handler, *api.Server, error) {
	started := time.Now().UTC()
	pin := id.pin // the key serving now: a rotation changes it
	var rotator fleet.TLSKeys
	if id.keys != nil {
		rotator = id.keys
	}
	terminals := console.New() // console terminals meet their agents here
	a := api.New(svc, log, reg, api.Config{
		EnrollRate: o.EnrollRate, EnrollBurst: o.EnrollBurst, MaxWait: o.LongPoll, Relay: rel, TLS: rotator, Console: terminals,
		Info: func() wire.ServerInfo {
			ula, _ := db.ULA(context.Background())
			return wire.ServerInfo{Version: Version, URL: extURL, Pin: pin(), Prefix4: store.OverlayPrefix4().String(), Prefix6: ula.String(), StartedAt: started,
				ReleaseKey: svc.Releases().RootKey(), InstallPS1: oneliner.ScriptSHA256()}
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", a.Handler())
	mux.Handle("/debug/pprof/", a.Handler())   // admin API key required
	mux.Handle(wire.PathSCIM+"/", a.Handler()) // SCIM token required
	mux.Handle("/ofrep/", a.Handler())         // a flag client's key required
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			http.Error(w, "database not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	metricsToken, err := sec.fromFlag(sealed.MetricsToken, "--metrics-token-file", o.MetricsTokenFile, o.PlainFallbackUntil)
	if err != nil {
		return nil, nil, err
	}
	if metricsToken != "" && len(metricsToken) < 16 {
		return nil, nil, fmt.Errorf("daemon: --metrics-token-file: the token must be at least 16 characters")
	}
	sec.metrics.Store(&metricsToken)
	mux.Handle("GET /metrics", a.MetricsAuth(sec.metricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	page, err := web.New(svc, log, web.Config{
		Secure: !o.InsecureHTTP, SSO: ssoProvider, NoPasswordLogin: o.NoPasswordLogin, Console: terminals,
		Server: func() oneliner.Server {
			return oneliner.Server{URL: extURL, Pin: pin(), ReleaseKey: svc.Releases().RootKey()}
		},
	})
	if err != nil {
		return nil, nil, err
	}
	relHandler := svc.Releases().Handler()
	mux.Handle("GET /releases/", relHandler)
	mux.Handle("GET /install.sh", relHandler)
	mux.Handle("GET /install.ps1", relHandler)
	mux.Handle("/", page.Handler())
	return mux, a, nil
}

// startJobs runs the background jobs until ctx ends: flag changes of other
// replicas, ephemeral-machine removal, machine expiry, and the
// health-report writer.
// retention is how long the janitor keeps what grows forever otherwise.
type retention struct {
	audit, flows time.Duration
	flowMax      int64
}

func startJobs(ctx context.Context, db *store.DB, svc *fleet.Service, a *api.Server, log *slog.Logger, ephemeralTTL time.Duration, keep retention, bg *sync.WaitGroup) {
	if db.IsShared() {
		bg.Add(1)
		go func() { defer bg.Done(); watchFlags(ctx, db, svc) }()
	}
	bg.Add(4)
	go func() { defer bg.Done(); janitor(ctx, db, svc, log, ephemeralTTL, keep) }()
	go func() { defer bg.Done(); expirer(ctx, db, svc, log) }()
	go func() { defer bg.Done(); a.RunHealthWriter(ctx) }()
	go func() { defer bg.Done(); a.RunUsageWriter(ctx, 30*time.Second) }()
}

func redact(dbURL string) string {
	if u, err := url.Parse(dbURL); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dbURL
}

// listenSocket opens the admin socket, refusing to steal it from a running
// server and removing a stale one.
func listenSocket(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("daemon: another wirefleet-server is already running on this data dir (%s answers)", path)
	}
	_ = os.Remove(path)
	// The data dir is 0700, so nobody else can reach the socket in the
	// moment before the chmod below.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("daemon: admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon: admin socket: %w", err)
	}
	return ln, nil
}

// bootstrap creates the first admin on first start and, when asked, a
// single-use enrollment token, and prints what an operator needs.
func bootstrap(ctx context.Context, db *store.DB, svc *fleet.Service, o Options, out io.Writer, extURL, pin string) error {
	n, err := db.AdminCount(ctx)
	if err != nil {
		return err
	}
	sys := store.Actor{Name: "system:bootstrap", SourceIP: "local"}
	if n == 0 {
		resp, err := svc.CreateAdmin(ctx, sys, "admin")
		switch {
		case wire.ErrorCode(err) == wire.CodeConflict:
			// Another replica on the same database created it just now.
		case err != nil:
			return fmt.Errorf("daemon: create first admin: %w", err)
		default:
			printAdmin(out, resp, extURL, pin)
		}
	}

	if o.BootstrapToken {
		_, tok, err := svc.CreateToken(ctx, sys, fleet.TokenSpec{TTL: time.Hour})
		if err != nil {
			return fmt.Errorf("daemon: create bootstrap token: %w", err)
		}
		fmt.Fprintf(out, "\n=== Enroll a machine (single-use token, valid 1 hour) ===\n")
		for _, l := range oneliner.For(oneliner.Server{URL: extURL, Pin: pin, ReleaseKey: svc.Releases().RootKey()}, tok) {
			fmt.Fprintf(out, "  %s:\n    %s\n", l.Label, l.Command)
		}
		for _, w := range oneliner.Warnings(extURL) {
			fmt.Fprintf(out, "  NOTE: %s\n", w)
		}
		fmt.Fprintf(out, "  more tokens:  wirefleet-server tokens create --data-dir %s\n\n", o.DataDir)
	}
	switch {
	case pin != "":
		fmt.Fprintf(out, "TLS: self-signed certificate, pin %s\n", pin)
	case len(o.ACME.Domains) > 0:
		fmt.Fprintf(out, "TLS: certificate for %s from the ACME CA (no pin needed)\n", strings.Join(o.ACME.Domains, ", "))
	}
	return nil
}

func printAdmin(out io.Writer, resp wire.CreateAdminResponse, extURL, pin string) {
	fmt.Fprintf(out, "\n=== First start: admin account created (shown once; only hashes are stored) ===\n")
	fmt.Fprintf(out, "  admin user:     %s\n", resp.Admin.Name)
	fmt.Fprintf(out, "  admin password: %s\n", resp.Password)
	fmt.Fprintf(out, "  admin API key:  %s\n", resp.APIKey)
	fmt.Fprintf(out, "  use it:         wirefleet-server machines list --server %s --api-key %s%s\n", extURL, resp.APIKey, pinFlag(pin))
}

func pinFlag(pin string) string {
	if pin == "" {
		return ""
	}
	return " --pin " + pin
}

// publishAgent signs and publishes o.PublishAgent for this host with keys
// kept in the data dir. That is the single-box setup: whoever is root on
// the server can sign updates. Fleets that care keep the keys offline and
// use `releases publish` from elsewhere.
func publishAgent(o Options, rel *releasestore.Store, keys release.KeyFiles, log *slog.Logger) error {
	if _, err := keys.ReadFile(release.SigningKeyFile); errors.Is(err, os.ErrNotExist) {
		if err := release.KeygenIn(keys, "", 10*365*24*time.Hour); err != nil {
			return fmt.Errorf("daemon: release keys: %w", err)
		}
		log.Warn("release keys created in the data dir (single-box setup): root on this server can sign agent updates", "dir", keys)
	}
	out, err := exec.Command(o.PublishAgent, "self-test").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 3 {
		return fmt.Errorf("daemon: %s self-test failed: %v", o.PublishAgent, err)
	}
	version, target := fields[1], fields[2] // "wirefleet-agent VERSION os/arch"
	if version == "" || version[0] < '0' || version[0] > '9' {
		version = "0.0.0-" + version // an unstamped build ("dev")
	}
	files := map[string]string{target: o.PublishAgent}
	for _, f := range o.PublishAlso {
		t, path, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("daemon: --publish-also %q must be os/arch=PATH", f)
		}
		files[t] = path
	}
	m, err := releasestore.PublishWith(rel, keys, "", releasestore.PublishOptions{Channel: "stable", Version: version, Files: files, Rollout: 100, AllowOlder: true})
	if err != nil {
		return fmt.Errorf("daemon: publish %s: %w", o.PublishAgent, err)
	}
	targets := make([]string, 0, len(m.Artifacts))
	for _, a := range m.Artifacts {
		targets = append(targets, a.OS+"/"+a.Arch)
	}
	slices.Sort(targets)
	log.Info("published the agent", "channel", m.Channel, "version", m.Version, "targets", strings.Join(targets, " "))
	return nil
}

// watchFlags wakes our agents' flag polls when another replica changes a
// flag.
func watchFlags(ctx context.Context, db *store.DB, svc *fleet.Service) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v, err := db.FlagsVersion(ctx); err == nil {
			svc.Flags().Set(v)
		}
	}
}

// janitor removes ephemeral machines that have been offline longer than
// ttl and trims the network-map change log.
func janitor(ctx context.Context, db *store.DB, svc *fleet.Service, log *slog.Logger, ttl time.Duration, keep retention) {
	pres := svc.Presence()
	every := time.Minute
	if ttl > 0 && ttl/4 < every {
		every = max(ttl/4, time.Second)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	trimmed := time.Now()
	auditTrimmed := time.Time{} // at the first tick after start
	flowsTrimmed := time.Time{}
	usageTrimmed := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ttl > 0 {
			pres.Flush(ctx)
			cutoff := time.Now().Add(-ttl)
			stale, err := db.StaleEphemeral(ctx, cutoff)
			if err != nil {
				log.Warn("janitor: list ephemeral machines", "err", err)
			}
			for _, m := range stale {
				// Each removal answers every held poll, so an agent that
				// was connected a moment ago may be re-polling right now.
				if pres.HeardSince(m.ID, cutoff) {
					continue
				}
				if _, err := svc.DeleteMachine(ctx, store.Actor{Name: "system:ephemeral-gc", SourceIP: "local"}, m.ID); err != nil {
					log.Warn("janitor: delete ephemeral machine", "machine", m.ID, "err", err)
					continue
				}
				log.Info("removed offline ephemeral machine", "machine", m.ID, "name", m.Name)
			}
		}
		if time.Since(trimmed) > 10*time.Minute {
			trimmed = time.Now()
			if err := db.TrimNetmapLog(ctx, 100_000); err != nil {
				log.Warn("janitor: trim netmap log", "err", err)
			}
		}
		if keep.audit > 0 && time.Since(auditTrimmed) > time.Hour {
			auditTrimmed = time.Now()
			trimAudit(ctx, svc, log, time.Now().Add(-keep.audit))
		}
		if (keep.flows > 0 || keep.flowMax > 0) && time.Since(flowsTrimmed) > 10*time.Minute {
			flowsTrimmed = time.Now()
			keepFor := keep.flows
			if keepFor <= 0 {
				keepFor = 100 * 365 * 24 * time.Hour
			}
			if n, err := svc.PruneFlows(ctx, time.Now(), keepFor, keep.flowMax); err != nil {
				log.Warn("janitor: prune flow records", "err", err)
			} else if n > 0 {
				log.Info("pruned flow records past their retention", "records", n)
			}
			// SSH sessions and their recordings are kept like flows.
			if n, err := svc.PruneSSH(ctx, time.Now(), keepFor); err != nil {
				log.Warn("janitor: prune ssh sessions", "err", err)
			} else if n > 0 {
				log.Info("pruned ssh sessions and recordings past the flow retention", "sessions", n)
			}
		}
		if time.Since(usageTrimmed) > time.Hour {
			// Flag usage is shown for a week: keep eight days, whatever
			// the flow retention says.
			usageTrimmed = time.Now()
			if err := svc.PruneUsage(ctx, time.Now().Add(-8*24*time.Hour)); err != nil {
				log.Warn("janitor: prune flag usage", "err", err)
			}
		}
	}
}

// trimAudit deletes the audit events older than before, in batches so
// that a year of backlog never holds the writer for long.
func trimAudit(ctx context.Context, svc *fleet.Service, log *slog.Logger, before time.Time) {
	var total int64
	for ctx.Err() == nil {
		n, err := svc.TrimAudit(ctx, before, 5000)
		if err != nil {
			log.Warn("janitor: trim audit log", "err", err)
			return
		}
		total += n
		if n < 5000 {
			break
		}
	}
	if total > 0 {
		log.Info("audit events past the retention deleted", "deleted", total, "before", before.UTC().Format(time.RFC3339))
	}
}

// rotateTLSEvery rotates the self-signed TLS key when its certificate is
// older than every, checking hourly, until ctx ends. A rotation waiting
// for agents to confirm the next key is tried again at the next check,
// and said once a day.
func rotateTLSEvery(ctx context.Context, svc *fleet.Service, keys *tlsutil.Keys, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	var told time.Time
	for {
		if rotated, err := maybeRotateTLS(ctx, svc, keys, every, time.Now()); err != nil && time.Since(told) > 24*time.Hour {
			told = time.Now()
			log.Warn("the TLS key is due for rotation, which waits", "err", err)
		} else if rotated {
			told = time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maybeRotateTLS rotates when the serving certificate is at least every
// old at now (not forced: every active agent must hold the next key).
func maybeRotateTLS(ctx context.Context, svc *fleet.Service, keys *tlsutil.Keys, every time.Duration, now time.Time) (bool, error) {
	if now.Sub(keys.IssuedAt()) < every {
		return false, nil
	}
	if _, err := svc.RotateTLS(ctx, store.Actor{Name: "system:tls-rotation", SourceIP: "local"}, keys, false); err != nil {
		return false, err
	}
	return true, nil
}

// expireEvery is how often the server looks for machines past their
// expiry (an indexed query; a request from one of them expires it at once).
const expireEvery = 5 * time.Second

// seenEvery is how often the server records which machines were seen
// within the policy's last_seen posture durations (fleet.SweepSeen).
const seenEvery = 30 * time.Second

// expirer expires machines as their time comes, and sweeps last_seen
// postures, until ctx ends.
func expirer(ctx context.Context, db *store.DB, svc *fleet.Service, log *slog.Logger) {
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	seen := time.NewTicker(seenEvery)
	defer seen.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			expireDue(ctx, db, svc, log)
		case <-seen.C:
			if n, err := svc.SweepSeen(ctx, time.Now()); err != nil {
				log.Warn("janitor: last_seen postures", "err", err)
			} else if n > 0 {
				log.Info("last_seen postures: machines moved", "machines", n)
			}
		}
	}
}

// expireDue takes the machines past their expiry out of the maps.
func expireDue(ctx context.Context, db *store.DB, svc *fleet.Service, log *slog.Logger) {
	due, err := db.DueToExpire(ctx, time.Now())
	if err != nil {
		log.Warn("janitor: list machines due to expire", "err", err)
		return
	}
	for _, m := range due {
		if _, err := svc.ExpireMachine(ctx, store.Actor{Name: "system:expiry", SourceIP: "local"}, m.ID); err != nil {
			log.Warn("janitor: expire machine", "machine", m.ID, "err", err)
		}
	}
}

// Client returns an admin client for a server's data dir (over its Unix
// socket) — what the CLI uses when given --data-dir.
func Client(dataDir string) (*client.Client, error) {
	return client.New("http://wirefleet.sock", client.WithUnixSocket(filepath.Join(dataDir, SocketName)))
}

// hsts tells browsers to use HTTPS only for this host for a year. Browsers
// ignore the header on a connection whose certificate they did not trust
// (a self-signed one clicked through) and for IP addresses, so it cannot
// lock anyone out of a self-signed server.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// checkDNSDomain validates --dns-domain and returns it canonical ("" when
// names are off).
func checkDNSDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || d == "off" {
		return "", nil
	}
	if err := wire.ValidateDomain(d); err != nil {
		return "", fmt.Errorf("--dns-domain %q: %w", d, err)
	}
	return d, nil
}

// serverAddrs returns the addresses agents reach the server at (its
// external URL's host, resolved): no machine may advertise a route that
// contains one. A name that does not resolve now leaves the check to the
// agents, which never install a route over the server's address.
func serverAddrs(ctx context.Context, extURL string, log *slog.Logger) []netip.Addr {
	u, err := url.Parse(extURL)
	if err != nil {
		return nil
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		log.Info("the external URL's host does not resolve here; routes are not checked against it", "host", host, "err", err)
		return nil
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs
}
