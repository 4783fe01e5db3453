// Command simulate is the fleet simulator: N agents speaking the real
// protocol over real HTTP to a running wirefleet-server — enroll, hold
// network-map long-polls, post health on a schedule, fetch flags — with no
// TUN. It reports enrollments/s, health latency (p50/p99) in a steady
// window after the ramp has settled, how long each of a few revocations
// takes to reach every connected agent, and the server's RSS, CPU and
// database size.
//
//	go run ./scripts/simulate -server http://127.0.0.1:8080 -api-key wfa_… -n 10000 \
//	    -server-pid $(pgrep -f 'wirefleet-server serve') -db ./data/wirefleet.db
//
// Every loop is bounded by -duration; only the given server is contacted.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

type agent struct {
	id, cred string
	key      [32]byte // WireGuard public key (random: the simulator has no tunnel)
}

// The simulator shares two cores with the server, so it does not decode
// the peer lists it is sent (O(N²) bytes over a ramp to N agents): it reads
// the fields it needs from the front of each answer with a streaming
// decoder and discards the rest unparsed.

// enroll enrolls one agent and returns its machine ID, credential and
// first map version.
func enroll(ctx context.Context, hc *http.Client, server string, req wire.EnrollRequest) (id, cred string, version uint64, err error) {
	body, _ := json.Marshal(req)
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, server+wire.PathEnroll, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		return "", "", 0, err
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", "", 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	dec := json.NewDecoder(resp.Body)
	if _, err := dec.Token(); err != nil { // {
		return "", "", 0, err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return "", "", 0, err
		}
		switch k {
		case "machine_id":
			err = dec.Decode(&id)
		case "credential":
			err = dec.Decode(&cred)
		case "netmap":
			version, err = leadingVersion(dec)
			return id, cred, version, err // the map follows; not needed
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return "", "", 0, err
		}
	}
	return "", "", 0, fmt.Errorf("enroll answer has no netmap")
}

// leadingVersion reads `{"version":N` from dec.
func leadingVersion(dec *json.Decoder) (uint64, error) {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, fmt.Errorf("netmap: want an object (%v)", err)
	}
	if k, err := dec.Token(); err != nil || k != "version" {
		return 0, fmt.Errorf("netmap: want version first (%v)", err)
	}
	var v uint64
	return v, dec.Decode(&v)
}

// revocation is one revocation being timed: the victim is quiet (it does
// not poll and nothing about it changes), so once it is revoked a map
// naming it can only be its removal.
type revocation struct {
	id    string
	start time.Time
	at    []atomic.Int64 // per agent: when the removal arrived (Unix ns), 0 = not yet
}

// poll holds a network-map long-poll for agent i, as the agent does, and
// stamps the arrival of the current round's removal.
func poll(ctx context.Context, hc *http.Client, server, cred string, v uint64, i int, cur *atomic.Pointer[revocation], pol *atomic.Pointer[policyRound], facts *atomic.Pointer[factRound]) {
	for ctx.Err() == nil {
		nv, body, err := pollOnce(ctx, hc, server, cred, v)
		if errors.Is(err, errRefused) {
			return // revoked or expired: the agent stops polling until re-enrolled
		}
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		// Loaded now, not when the poll was sent: polls are held for a minute.
		if r := cur.Load(); r != nil && bytes.Contains(body.Bytes(), []byte(`"`+r.id+`"`)) {
			r.at[i].CompareAndSwap(0, time.Now().UnixNano())
		}
		if r := pol.Load(); r != nil {
			r.note(i, body.Bytes())
		}
		if r := facts.Load(); r != nil {
			r.note(i, body.Bytes())
		}
		bufPool.Put(body)
		v = nv
	}
}

// errRefused is a poll the server refused for good (machine_revoked,
// machine_expired): the real agent stops polling then.
var errRefused = errors.New("refused")

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func pollOnce(ctx context.Context, hc *http.Client, server, cred string, since uint64) (uint64, *bytes.Buffer, error) {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+wire.PathNetmap+"?since="+strconv.FormatUint(since, 10), nil)
	r.Header.Set("Authorization", "Bearer "+cred)
	resp, err := hc.Do(r)
	if err != nil {
		return since, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return since, nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, errRefused)
		}
		return since, nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		bufPool.Put(buf)
		return since, nil, err
	}
	v, err := leadingVersion(json.NewDecoder(bytes.NewReader(buf.Bytes())))
	if err != nil {
		bufPool.Put(buf)
		return since, nil, err
	}
	return v, buf, nil
}

// options are the simulator's command-line settings.
type options struct {
	server, apiKey, pin  string
	n, conc, revocations int
	health, settle, warm time.Duration
	restart              bool
	restartLog           string
	restartBinary        string
	duration             time.Duration
	pid                  int
	dbPath               string
	jsonOut, http2       bool
	relay                bool
	relayEvery           time.Duration
	teamSize             int
	policyChange         bool
	postures, factChange int
	deprovision          int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.server, "server", "http://127.0.0.1:8080", "server URL")
	flag.StringVar(&o.apiKey, "api-key", os.Getenv("WIREFLEET_API_KEY"), "admin API key")
	flag.StringVar(&o.pin, "pin", "", "server TLS pin")
	flag.IntVar(&o.n, "n", 1000, "agents")
	flag.IntVar(&o.conc, "concurrency", 32, "parallel enrollments")
	flag.DurationVar(&o.health, "health", 30*time.Second, "health report interval per agent")
	flag.DurationVar(&o.settle, "settle", 15*time.Second, "after the ramp, wait this long before measuring (the last enrollments' maps are still going out)")
	flag.DurationVar(&o.warm, "warm", 60*time.Second, "measure the steady state this long before the revocations")
	flag.IntVar(&o.revocations, "revocations", 3, "revocations to time, 10 s apart")
	flag.BoolVar(&o.restart, "restart", false, "finally restart the server (SIGTERM, then the same command line; needs -server-pid) and time until every agent polls again")
	flag.StringVar(&o.restartLog, "restart-log", "simulate-restarted-server.log", "where the restarted server's output goes")
	flag.StringVar(&o.restartBinary, "restart-binary", "", "with -restart: start this server binary instead (an upgrade); a machine is revoked just before the old server stops, and the summary says whether every agent learned of it and whether any acknowledged health report is missing")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "hard limit on the whole run")
	flag.BoolVar(&o.relay, "relay", false, "every agent also holds a relay session (needs -pin, i.e. TLS) and sends a keepalive-sized frame to a random other agent every -relay-every")
	flag.DurationVar(&o.relayEvery, "relay-every", 25*time.Second, "with -relay, the interval of each agent's frames (WireGuard's persistent keepalive)")
	flag.IntVar(&o.pid, "server-pid", 0, "server process, for RSS and CPU")
	flag.StringVar(&o.dbPath, "db", "", "server's SQLite file, for its size")
	flag.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON")
	flag.IntVar(&o.teamSize, "team-size", 0, "split the fleet into teams of this many machines (half laptops, half servers) under an access policy in which a team's laptops reach its servers (0: no policy, a full mesh)")
	flag.BoolVar(&o.policyChange, "policy-change", false, "with -team-size: finally change the policy for every machine and time how long it takes to reach every agent")
	flag.IntVar(&o.postures, "postures", 0, "with -team-size: define this many postures on the agents' facts, each team's rule requiring one of them (every agent reports facts that satisfy them all)")
	flag.IntVar(&o.factChange, "fact-change", 0, "with -postures: finally have this many laptops, spread over the teams, report facts that fail every posture at once, and time until every server of their teams has them removed")
	flag.IntVar(&o.deprovision, "deprovision", 0, "with -team-size: the laptops of the first N teams belong to N people provisioned over SCIM (one per team); finally deactivate them all over SCIM at once and time until every server of those teams has their laptops removed (run it apart from -fact-change: laptops that already left their servers are never removed again)")
	flag.BoolVar(&o.http2, "http2", false, "multiplex the agents' requests over HTTP/2 connections (needs -pin, i.e. TLS): "+
		"how to go past one process's descriptor limit, as an HTTP/2 load balancer in front of the server would")
	flag.Parse()
	return o
}

// sample is one health report's send time and latency.
type sample struct {
	at  time.Time
	lat time.Duration
}

// sim is one simulation run: the admin client, the agents' HTTP clients,
// and what the agents measure.
type sim struct {
	o               options
	admin           *client.Client
	token           string
	restCl, pollCl  *http.Client
	agents, victims []*agent
	upgradeVictim   *agent // with -restart: revoked just before the server stops

	// With -restart, agents resend a refused health report until it is
	// acknowledged (as the agent's queue does); the first ackSample agents'
	// acknowledged reports are checked against the server's history.
	amu           sync.Mutex
	acked         map[int][]time.Time
	cur           atomic.Pointer[revocation]
	pol           atomic.Pointer[policyRound]
	facts         atomic.Pointer[factRound]
	teamTokens    map[string]string
	scimToken     string
	people        []string // with -deprovision: team K's laptops' owner is people[K] (an ID)
	connected     atomic.Int64
	enrollRetries atomic.Int64

	hmu  sync.Mutex
	hlat []sample
	herr atomic.Int64
}

// window is the steady-state measurement: CPU ticks of the server and of
// the simulator, and the health-report count, at both ends.
type window struct {
	wall0, wall1             time.Time
	cpu0, cpu1, self0, self1 int64
	h0, h1                   int
}

// revocations holds what the timed revocations measured.
type revocations struct {
	start   time.Time
	lat     []time.Duration
	p99s    []time.Duration
	reached []int
}

func main() {
	o := parseFlags()
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	s, err := newSim(ctx, o)
	must(err)
	if o.teamSize > 0 {
		must(s.setupTeams(ctx))
	}
	enrollRate := s.enrollAll(ctx)
	var rs *relayStats
	if o.relay {
		rs = s.openRelays(ctx)
	}
	s.startHealth(ctx)
	w := s.measureSteady(ctx)
	rev := s.timeRevocations(ctx)
	sum := s.summary(enrollRate, w, rev)
	if rs != nil {
		rs.add(sum)
	}
	if o.teamSize > 0 && o.policyChange {
		s.timePolicyChange(ctx, sum)
	}
	if o.teamSize > 0 && o.postures > 0 && o.factChange > 0 {
		s.timeFactChange(ctx, sum)
	}
	if o.teamSize > 0 && o.deprovision > 0 {
		s.timeDeprovision(ctx, sum)
	}
	if o.restart {
		s.timeRestart(ctx, sum)
	}
	printSummary(sum, o.jsonOut)
}

// newSim creates the reusable token the agents enroll with and the HTTP
// clients: long-polls hold one connection each; health and flags share a
// small pool, so the simulator stays under its descriptor limit.
func newSim(ctx context.Context, o options) (*sim, error) {
	opts := []client.Option{client.WithToken(o.apiKey)}
	if o.pin != "" {
		opts = append(opts, client.WithPin(o.pin))
	}
	admin, err := client.New(o.server, opts...)
	if err != nil {
		return nil, err
	}
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, ExpiresIn: "2h", Tags: []string{"sim"}})
	if err != nil {
		return nil, err
	}
	pollTr := http.DefaultTransport.(*http.Transport).Clone()
	pollTr.MaxIdleConnsPerHost = o.n + 16
	pollTr.MaxConnsPerHost = 0
	restTr := http.DefaultTransport.(*http.Transport).Clone()
	restTr.MaxConnsPerHost, restTr.MaxIdleConnsPerHost = 256, 256
	if o.pin != "" {
		pc, _ := client.New(o.server, client.WithPin(o.pin))
		tlsCfg := pc.HTTPClient().Transport.(*http.Transport).TLSClientConfig
		pollTr.TLSClientConfig, restTr.TLSClientConfig = tlsCfg, tlsCfg
		pollTr.ForceAttemptHTTP2, restTr.ForceAttemptHTTP2 = o.http2, o.http2
		if !o.http2 {
			// One TCP connection per agent, as real agents have.
			pollTr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
	} else if o.http2 {
		return nil, fmt.Errorf("-http2 needs a TLS server and its -pin")
	}
	return &sim{o: o, admin: admin, token: tok.Secret, restCl: &http.Client{Transport: restTr}, pollCl: &http.Client{Transport: pollTr}, acked: map[int][]time.Time{}}, nil
}

// enrollAll enrolls the agents (and the victims to revoke later) with a
// progress line and returns enrollments per second. Like real agents, each
// one holds a network-map long-poll from the moment it is enrolled, so the
// ramp also measures how the server copes with a fleet that grows under it.
func (s *sim) enrollAll(ctx context.Context) float64 {
	extra := 0
	if s.o.restart {
		extra = 1 // the machine revoked across the restart
	}
	agents := make([]*agent, s.o.n+s.o.revocations+extra) // the last ones are revoked later
	var done atomic.Int64
	t0 := time.Now()
	stopProgress := progress("enrolled", &done, &s.connected, int64(len(agents)), t0)
	work := make(chan int)
	var wg sync.WaitGroup
	for range s.o.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var b [32]byte
				rand.Read(b[:])
				req := wire.EnrollRequest{Token: s.tokenFor(i), PublicKey: base64.StdEncoding.EncodeToString(b[:]),
					Hostname: "sim-" + strconv.Itoa(i), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0",
					Endpoints: []string{fmt.Sprintf("192.0.2.%d:51820", i%250+1)}}
				id, cred, version, err := enroll(ctx, s.restCl, s.o.server, req)
				for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ {
					// A transport error under load (a reset HTTP/2 stream):
					// retry as an agent would; the key is unused until it works.
					s.enrollRetries.Add(1)
					time.Sleep(time.Duration(try) * time.Second)
					id, cred, version, err = enroll(ctx, s.restCl, s.o.server, req)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "\nenroll %d: %v\n", i, err)
					os.Exit(1)
				}
				agents[i] = &agent{id: id, cred: cred, key: b}
				done.Add(1)
				if i >= s.o.n {
					continue // a victim does not poll: it is revoked later
				}
				s.connected.Add(1)
				go poll(ctx, s.pollCl, s.o.server, cred, version, i, &s.cur, &s.pol, &s.facts)
			}
		}()
	}
	for i := range agents {
		work <- i
	}
	close(work)
	wg.Wait()
	stopProgress()
	s.agents, s.victims = agents[:s.o.n], agents[s.o.n:s.o.n+s.o.revocations]
	if extra > 0 {
		s.upgradeVictim = agents[len(agents)-1]
	}
	return float64(len(agents)) / time.Since(t0).Seconds()
}

// startHealth has every agent fetch its flags once and report health every
// interval, spread evenly over the interval.
func (s *sim) startHealth(ctx context.Context) {
	for i, a := range s.agents {
		hc, _ := client.New(s.o.server, client.WithToken(a.cred), client.WithHTTPClient(s.restCl))
		go func() {
			offset := time.Duration(int64(s.o.health) * int64(i) / int64(len(s.agents)))
			select {
			case <-ctx.Done():
				return
			case <-time.After(offset):
			}
			hc.AgentFlags(ctx, "", 0)
			first := true
			t := time.NewTicker(s.o.health)
			defer t.Stop()
			for {
				start := time.Now()
				rep := wire.HealthReport{At: start, AgentVersion: "1.0.0", OS: "linux", CPUPercent: 3, MemTotal: 8 << 30, MemUsed: 2 << 30,
					Tunnel: wire.TunnelHealth{Up: true, Interface: "wf0", PeerCount: len(s.agents)}}
				if first && s.o.postures > 0 {
					rep.Facts = healthyFacts() // as an agent sends them at its start
				}
				first = false
				_, err := hc.ReportHealth(ctx, rep)
				for s.o.restart && err != nil && ctx.Err() == nil {
					// Kept and sent again, as the agent's queue does.
					s.herr.Add(1)
					time.Sleep(time.Second)
					_, err = hc.ReportHealth(ctx, rep)
				}
				if err == nil && s.o.restart && i < ackSample {
					s.amu.Lock()
					s.acked[i] = append(s.acked[i], rep.At)
					s.amu.Unlock()
				}
				if err != nil {
					s.herr.Add(1)
				} else {
					s.hmu.Lock()
					s.hlat = append(s.hlat, sample{start, time.Since(start)})
					s.hmu.Unlock()
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

// measureSteady waits for the fleet to settle, then measures the steady
// window's CPU use and health-report count.
func (s *sim) measureSteady(ctx context.Context) window {
	fmt.Fprintf(os.Stderr, "all %d agents polling; settling for %v, then measuring for %v…\n", len(s.agents), s.o.settle, s.o.warm)
	sleep(ctx, s.o.settle)
	hcount := func() int { s.hmu.Lock(); defer s.hmu.Unlock(); return len(s.hlat) }
	var w window
	w.cpu0, w.wall0, w.h0, w.self0 = cpuTicks(s.o.pid), time.Now(), hcount(), cpuTicks(os.Getpid())
	sleep(ctx, s.o.warm)
	w.cpu1, w.wall1, w.h1, w.self1 = cpuTicks(s.o.pid), time.Now(), hcount(), cpuTicks(os.Getpid())
	return w
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// timeRevocations revokes the victims 10 s apart and times how long each
// revocation takes to reach every connected agent.
func (s *sim) timeRevocations(ctx context.Context) revocations {
	var out revocations
	for k, v := range s.victims {
		if k > 0 {
			time.Sleep(10 * time.Second)
		}
		r := &revocation{id: v.id, at: make([]atomic.Int64, len(s.agents))}
		s.cur.Store(r)
		r.start = time.Now()
		if k == 0 {
			out.start = r.start
		}
		// The admin connection may have idled out during the run; POST is not
		// retried by net/http, so retry once on a fresh connection.
		_, err := s.admin.RevokeMachine(ctx, v.id)
		if err != nil {
			s.admin.HTTPClient().CloseIdleConnections()
			r.start = time.Now()
			_, err = s.admin.RevokeMachine(ctx, v.id)
		}
		must(err)
		var got []time.Duration
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			got = got[:0]
			for i := range r.at {
				if at := r.at[i].Load(); at != 0 {
					got = append(got, time.Unix(0, at).Sub(r.start))
				}
			}
			if len(got) == s.seers() {
				break
			}
		}
		fmt.Fprintf(os.Stderr, "revocation %d reached %d of the %d agents that see it, p99 %v\n", k+1, len(got), s.seers(), pct(got, 0.99).Round(time.Millisecond))
		out.lat = append(out.lat, got...)
		out.p99s = append(out.p99s, pct(got, 0.99))
		out.reached = append(out.reached, len(got))
	}
	return out
}

// summary computes the figures. Health latency is taken in the steady
// window (everyone enrolled and polling, before the revocations), and
// separately for reports sent while revocations were fanned out.
func (s *sim) summary(enrollRate float64, w window, rev revocations) map[string]any {
	s.hmu.Lock()
	var h, hRev []time.Duration
	var byTen [][]time.Duration // the steady window in 10 s slices, to see when slow reports happen
	for _, smp := range s.hlat {
		switch {
		case smp.at.After(w.wall0) && smp.at.Before(rev.start):
			h = append(h, smp.lat)
			i := int(smp.at.Sub(w.wall0) / (10 * time.Second))
			for len(byTen) <= i {
				byTen = append(byTen, nil)
			}
			byTen[i] = append(byTen[i], smp.lat)
		case !smp.at.Before(rev.start):
			hRev = append(hRev, smp.lat)
		}
	}
	s.hmu.Unlock()
	var tenP99 []float64
	for _, d := range byTen {
		tenP99 = append(tenP99, ms(pct(d, 0.99)))
	}
	secs := w.wall1.Sub(w.wall0).Seconds()
	return map[string]any{
		"health_p99_ms_per_10s":  tenP99,
		"agents":                 len(s.agents),
		"enrollments_per_s":      round(enrollRate),
		"health_reports":         len(h),
		"health_rev_reports":     len(hRev),
		"health_rev_p99_ms":      ms(pct(hRev, 0.99)),
		"health_rev_max_ms":      ms(pct(hRev, 1)),
		"health_errors":          s.herr.Load(),
		"health_per_s":           round(float64(w.h1-w.h0) / secs),
		"health_p50_ms":          ms(pct(h, 0.5)),
		"health_p99_ms":          ms(pct(h, 0.99)),
		"health_max_ms":          ms(pct(h, 1)),
		"revocation_reached":     rev.reached,
		"enroll_retries":         s.enrollRetries.Load(),
		"revocation_p99_ms_each": msList(rev.p99s),
		"revocation_p50_ms":      ms(pct(rev.lat, 0.5)),
		"revocation_p99_ms":      ms(pct(rev.lat, 0.99)),
		"revocation_max_ms":      ms(pct(rev.lat, 1)),
		"server_rss_mib":         rssMiB(s.o.pid),
		"server_cpu_percent":     round(float64(w.cpu1-w.cpu0) / 100 / secs * 100),
		"db_mib":                 fileMiB(s.o.dbPath),
		"simulator_cpu_percent":  round(float64(w.self1-w.self0) / 100 / secs * 100),
		"connected_long_polls":   s.connected.Load(),
	}
}

// ackSample is how many agents' acknowledged health reports -restart
// checks against the server's history.
const ackSample = 100

// timeRestart restarts the server: every agent's poll is answered by the
// shutdown, its retries are refused while the server is down, and it polls
// again once the server is back. The figures are added to sum.
func (s *sim) timeRestart(ctx context.Context, sum map[string]any) {
	errs0 := s.herr.Load()
	// A revocation committed just before the server stops: its fan-out
	// may be cut short; the restarted server must still deliver it.
	r := &revocation{id: s.upgradeVictim.id, at: make([]atomic.Int64, len(s.agents))}
	s.cur.Store(r)
	r.start = time.Now()
	_, err := s.admin.RevokeMachine(ctx, r.id)
	if err != nil {
		s.admin.HTTPClient().CloseIdleConnections()
		_, err = s.admin.RevokeMachine(ctx, r.id)
	}
	must(err)
	t0 := time.Now()
	newPid, err := restartServer(s.o.pid, s.o.restartLog, s.o.restartBinary)
	must(err)
	fmt.Fprintf(os.Stderr, "server restarted (pid %d); waiting for every agent to poll again…\n", newPid)
	var up, all time.Time
	for deadline := t0.Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := connectedPolls(ctx, s.restCl, s.o.server, s.o.apiKey)
		if err != nil {
			continue
		}
		if up.IsZero() {
			up = time.Now()
		}
		if n >= len(s.agents) {
			all = time.Now()
			break
		}
	}
	sum["restart_server_up_ms"] = ms(up.Sub(t0))
	if all.IsZero() {
		sum["restart_all_polling_ms"] = "not within 3 min"
	} else {
		sum["restart_all_polling_ms"] = ms(all.Sub(t0))
	}
	reached := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		reached = 0
		for i := range r.at {
			if r.at[i].Load() != 0 {
				reached++
			}
		}
		if reached >= s.seers() {
			break
		}
	}
	sum["restart_revocation_reached"] = fmt.Sprintf("%d of %d", reached, s.seers())
	// Two more rounds of reports, then every acknowledged one must be in
	// the server's history.
	time.Sleep(2*s.o.health + 2*time.Second)
	sum["restart_server_rss_mib"] = rssMiB(newPid)
	sum["restart_health_refused_then_resent"] = s.herr.Load() - errs0
	s.amu.Lock()
	acked := s.acked
	s.amu.Unlock()
	checked, missing := 0, 0
	for i, ats := range acked {
		h, err := s.admin.Health(ctx, s.agents[i].id, 120) // the server keeps 120 per machine
		if err != nil {
			fmt.Fprintf(os.Stderr, "health history of agent %d: %v\n", i, err)
			missing += len(ats)
			continue
		}
		have := map[int64]bool{}
		for _, rep := range h.History {
			have[rep.At.UnixNano()] = true
		}
		for _, at := range ats {
			checked++
			if !have[at.UnixNano()] {
				missing++
			}
		}
	}
	sum["restart_health_acked_checked"] = checked
	sum["restart_health_acked_missing"] = missing
}

func printSummary(sum map[string]any, asJSON bool) {
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(sum)
		return
	}
	keys := make([]string, 0, len(sum))
	for k := range sum {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-22s %v\n", k, sum[k])
	}
}

func progress(what string, done, polling *atomic.Int64, total int64, t0 time.Time) func() {
	stop := make(chan struct{})
	line := func() string {
		return fmt.Sprintf("\r%s %d/%d (%.0f/s), %d polling", what, done.Load(), total, float64(done.Load())/time.Since(t0).Seconds(), polling.Load())
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintln(os.Stderr, line()+"          ")
				return
			case <-t.C:
				fmt.Fprint(os.Stderr, line())
			}
		}
	}()
	return func() { close(stop); time.Sleep(10 * time.Millisecond) }
}

// connectedPolls reads the server's count of held long-polls from /metrics.
func connectedPolls(ctx context.Context, hc *http.Client, server, apiKey string) (int, error) {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+apiKey) // /metrics is not public
	resp, err := hc.Do(r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wirefleet_longpolls_connected "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no wirefleet_longpolls_connected in /metrics")
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds()) / 1000) }

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func cpuTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func rssMiB(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return round(kb / 1024)
		}
	}
	return 0
}

func fileMiB(path string) float64 {
	var total int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(path + suffix); err == nil && path != "" {
			total += st.Size()
		}
	}
	return round(float64(total) / (1 << 20))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}
