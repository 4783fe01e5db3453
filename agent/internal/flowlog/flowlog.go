// Package flowlog turns the packet filter's flow accounting into flow
// records and delivers them to the server, when the policy's "flowLogs"
// asks this machine to.
//
// Every interval (the policy's, 1 min by default) the logger collects
// what each flow did since the previous collection and the refused
// connection attempts, and makes a record of each: addresses, ports,
// machines, packets and bytes each way, the path to the peer, and the
// verdict (with the rule that let an inbound flow in, or why an attempt
// was refused). Records wait in a bounded on-disk queue that survives
// restarts, and are sent in order; when the server stays away too long
// the oldest are dropped, and counted, never the queue let grow.
package flowlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Defaults.
const (
	// MaxPerInterval bounds the flows of one collection; the rest wait for
	// the next one (and are counted if they never fit).
	MaxPerInterval = 5000
	// MaxQueued bounds the records waiting for the server: a day of a
	// busy machine's flows. Beyond it the oldest are dropped.
	MaxQueued = 200_000
)

// Source is the packet filter's accounting (filter.Filter).
type Source interface {
	Collect(max int) ([]filter.FlowStat, []filter.Denial, uint64)
	SetAccounting(on bool)
}

// Sender delivers a report (client.Client).
type Sender interface {
	ReportFlows(ctx context.Context, r wire.FlowReport) error
}

// Names says who an overlay address is and how traffic to a machine
// travels; built from the agent's view and tunnel when records are made.
type Names struct {
	Self map[netip.Addr]string // this machine's addresses → its ID
	// Serves is what this machine routes for the fleet (Self.Serves): the
	// flows it forwards there are logged too.
	Serves []netip.Prefix
	Peers  map[netip.Addr]string // peers' addresses → their IDs
	Paths  map[string]string     // machine ID → direct, peer-relay, relay (now)
	// PathAt, when set, says which path packets to a machine took at a
	// moment of the interval (the logger samples them); else Paths.
	PathAt func(id string, at time.Time) string
}

// Records turns an interval's accounting into records. from is when the
// interval began (a record starts no earlier: a flow of days is logged as
// one record per interval). sample keeps that share of flows, the same
// flows every interval (by a hash of the flow); refused attempts are
// always kept.
func Records(flows []filter.FlowStat, denials []filter.Denial, n Names, sample float64, from time.Time, seed maphash.Seed) []wire.FlowRecord {
	out := make([]wire.FlowRecord, 0, len(flows)+len(denials))
	cut := uint64(math.MaxUint64)
	if sample < 1 {
		cut = uint64(sample * float64(math.MaxUint64))
	}
	for _, f := range flows {
		if !n.mine(f.Local) {
			continue // neither this machine's nor where it routes
		}
		if sample < 1 && maphash.Comparable(seed, flowID{f.Proto, f.Local, f.Remote, f.LPort, f.RPort}) > cut {
			continue
		}
		r := wire.FlowRecord{Start: later(f.Opened, from), End: f.Last, Proto: protoName(f.Proto), Verdict: wire.FlowAllowed}
		if r.End.Before(r.Start) {
			r.End = r.Start
		}
		if f.Inbound {
			r.Src, r.Dst, r.SrcPort, r.DstPort = f.Remote.String(), f.Local.String(), f.RPort, f.LPort
			r.TxPackets, r.TxBytes, r.RxPackets, r.RxBytes = f.InPackets, f.InBytes, f.OutPackets, f.OutBytes
			r.Rule = f.Rule
		} else {
			r.Src, r.Dst, r.SrcPort, r.DstPort = f.Local.String(), f.Remote.String(), f.LPort, f.RPort
			r.TxPackets, r.TxBytes, r.RxPackets, r.RxBytes = f.OutPackets, f.OutBytes, f.InPackets, f.InBytes
		}
		n.fill(&r, f.Remote, f.Last)
		out = append(out, r)
	}
	for _, d := range denials {
		if !n.mine(d.Dst) {
			continue
		}
		r := wire.FlowRecord{Start: d.First, End: d.Last, Proto: protoName(d.Proto), Src: d.Src.String(), Dst: d.Dst.String(),
			DstPort: d.Port, TxPackets: d.Packets, TxBytes: d.Bytes, Verdict: wire.FlowDenied, Rule: d.Why}
		n.fill(&r, d.Src, d.Last)
		out = append(out, r)
	}
	return out
}

// mine reports whether a is this machine's own address or one it routes
// to (true when the names do not say: nothing to tell apart). The server
// takes records only of flows the reporter is an end of or forwards.
func (n Names) mine(a netip.Addr) bool {
	if len(n.Self) == 0 {
		return true
	}
	if _, ok := n.Self[a]; ok {
		return true
	}
	for _, p := range n.Serves {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type flowID struct {
	proto         uint8
	local, remote netip.Addr
	lport, rport  uint16
}

// fill names the record's machines and the path to the peer at remote
// when the flow was last active.
func (n Names) fill(r *wire.FlowRecord, remote netip.Addr, last time.Time) {
	who := func(s string) string {
		a, _ := netip.ParseAddr(s)
		if id, ok := n.Self[a]; ok {
			return id
		}
		return n.Peers[a]
	}
	r.SrcMachine, r.DstMachine = who(r.Src), who(r.Dst)
	if id, ok := n.Peers[remote]; ok {
		r.Path = n.Paths[id]
		if n.PathAt != nil {
			if p := n.PathAt(id, last); p != "" {
				r.Path = p
			}
		}
	}
	switch r.Path {
	case wire.PathDirect, wire.PathPeerRelay, wire.PathRelayed:
	default:
		r.Path = ""
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "ipv6-icmp"
	}
	return fmt.Sprint(p)
}

// Queue is what waits for the server: records in order, and how many
// were dropped (over the bounds) and not yet told to it.
type Queue struct {
	Records []wire.FlowRecord `json:"records"`
	Dropped uint64            `json:"dropped"`
}

// add appends records, dropping the oldest beyond max.
func (q *Queue) add(recs []wire.FlowRecord, max int) {
	q.Records = append(q.Records, recs...)
	if over := len(q.Records) - max; over > 0 {
		q.Records = append(q.Records[:0:0], q.Records[over:]...)
		q.Dropped += uint64(over)
	}
}

// LoadQueue reads the queue file (gzip-compressed JSON); a missing one is
// empty, a torn or corrupt one is reported and replaced by an empty one.
func LoadQueue(path string) (Queue, error) {
	var q Queue
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return q, fmt.Errorf("flowlog: read queue: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err == nil {
		err = json.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&q)
	}
	if err != nil {
		return Queue{}, fmt.Errorf("flowlog: queue %s is corrupt; starting a new one: %w", path, err)
	}
	return q, nil
}

// SaveQueue writes the queue atomically, readable by root only.
func SaveQueue(path string, q Queue) error {
	if len(q.Records) == 0 && q.Dropped == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(q); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o600)
}

// Logger collects and delivers flow records while the policy asks for them.
type Logger struct {
	Source Source
	Sender Sender
	Path   string                // the queue file
	Config func() *wire.FlowLogs // the policy's ask now (nil: off)
	Names  func() Names
	// Paths, when set, tells the path to each peer now; the logger samples
	// it every few seconds while logging, so that a record names the path
	// its flow took, not the one at the interval's end.
	Paths func() map[string]string
	Log   *slog.Logger
	Now   func() time.Time
	Max   int // queue bound (default MaxQueued)

	seed    maphash.Seed
	from    time.Time // the current interval's start
	q       Queue
	on      bool
	samples []pathSample // this interval's path samples, oldest first
}

// pathSample is the peers' paths at one moment.
type pathSample struct {
	at    time.Time
	paths map[string]string
}

// sampleEvery is how often the paths are sampled while logging.
const sampleEvery = 2 * time.Second

// pathAt returns the path to id sampled nearest before at (or the first
// sample after it).
func (l *Logger) pathAt(id string, at time.Time) string {
	p := ""
	for _, s := range l.samples {
		if s.at.After(at) {
			if p == "" {
				p = s.paths[id]
			}
			break
		}
		if v := s.paths[id]; v != "" {
			p = v
		}
	}
	return p
}

// sample records the peers' paths now (while logging), keeping the
// current interval's.
func (l *Logger) sample(now time.Time) {
	if !l.on {
		return
	}
	// Again at every sample: a tunnel brought up since (a new filter)
	// starts counting within seconds, not at the next collection.
	l.Source.SetAccounting(true)
	if l.Paths == nil {
		return
	}
	cut := 0
	for cut < len(l.samples) && l.samples[cut].at.Before(l.from.Add(-sampleEvery)) {
		cut++
	}
	l.samples = append(l.samples[cut:], pathSample{at: now, paths: l.Paths()})
}

// names is Names with the sampled paths.
func (l *Logger) names() Names {
	n := l.Names()
	if len(l.samples) > 0 {
		n.PathAt = l.pathAt
	}
	return n
}

// Run logs flows until ctx ends, checking every 10 s whether the policy
// turned them on or off, and sampling the peers' paths every 2 s while on.
func (l *Logger) Run(ctx context.Context) {
	l.init()
	var err error
	if l.q, err = LoadQueue(l.Path); err != nil {
		l.Log.Warn("flow log queue", "err", err)
	}
	next := l.Now()
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	check := next
	for {
		now := l.Now()
		l.sample(now)
		if !now.Before(next) || !l.on && !now.Before(check) {
			next = l.Step(ctx, now)
			check = now.Add(10 * time.Second)
		}
		select {
		case <-ctx.Done():
			l.stop()
			return
		case <-t.C:
		}
	}
}

func (l *Logger) init() {
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Max <= 0 {
		l.Max = MaxQueued
	}
	l.seed = maphash.MakeSeed()
}

// Step turns accounting on or off as the policy says; when on, it
// collects the interval that ends at now, queues its records and
// delivers the queue. It returns when the next interval ends.
func (l *Logger) Step(ctx context.Context, now time.Time) time.Time {
	if l.seed == (maphash.Seed{}) {
		l.init()
	}
	cfg := l.Config()
	if cfg == nil {
		if l.on {
			l.Log.Info("flow logs off (the policy no longer asks for them)")
			l.Source.SetAccounting(false)
			l.on = false
		}
		l.deliver(ctx) // what was queued still goes
		return now.Add(10 * time.Second)
	}
	interval := time.Duration(cfg.IntervalSeconds) * time.Second
	if interval <= 0 {
		interval = time.Minute
	}
	if !l.on {
		l.Log.Info("flow logs on (the policy asks for them)", "interval", interval, "sample", cfg.Sample)
		l.Source.SetAccounting(true)
		l.on, l.from = true, now
		l.deliver(ctx)
		return now.Add(interval)
	}
	flows, denials, overflow := l.Source.Collect(MaxPerInterval)
	recs := Records(flows, denials, l.names(), cfg.Sample, l.from, l.seed)
	l.from = now
	l.q.Dropped += overflow
	l.q.add(recs, l.Max)
	l.deliver(ctx)
	return now.Add(interval)
}

// refused reports whether the server refused a report for what it holds
// (sending it again cannot help), rather than being away or busy.
func refused(err error) bool {
	switch wire.ErrorCode(err) {
	case wire.CodeInvalidArgument, wire.CodeInvalidJSON, wire.CodeUnknownField, wire.CodeDuplicateField, wire.CodeBodyTooLarge, wire.CodeForbidden:
		return true
	}
	return false
}

// stop ends logging at shutdown: what the current interval counted so far
// is collected into the queue and saved, to be sent after the restart
// (a clean stop loses nothing; a crash loses the interval in progress).
func (l *Logger) stop() {
	defer l.Source.SetAccounting(false)
	if !l.on {
		return
	}
	cfg := l.Config()
	sample := 1.0
	if cfg != nil {
		sample = cfg.Sample
	}
	flows, denials, overflow := l.Source.Collect(MaxPerInterval)
	l.q.Dropped += overflow
	l.q.add(Records(flows, denials, l.names(), sample, l.from, l.seed), l.Max)
	if err := SaveQueue(l.Path, l.q); err != nil {
		l.Log.Warn("saving the flow log queue", "err", err)
	}
}

// deliver sends the queue in reports of at most wire.MaxFlowRecords, in
// order, until one fails; what is left is saved for later (and for the
// next start).
func (l *Logger) deliver(ctx context.Context) {
	for len(l.q.Records) > 0 || l.q.Dropped > 0 {
		n := min(len(l.q.Records), wire.MaxFlowRecords)
		rep := wire.FlowReport{Records: l.q.Records[:n], Dropped: l.q.Dropped}
		if err := l.Sender.ReportFlows(ctx, rep); err != nil {
			if refused(err) {
				// The server will never take these (a record it judges
				// malformed): dropped and counted, so that they do not
				// hold up every later record.
				l.Log.Warn("the server refused flow records; dropped", "records", n, "err", err)
				l.q.Records, l.q.Dropped = l.q.Records[n:], l.q.Dropped+uint64(n)
				continue
			}
			l.Log.Debug("flow records not delivered; queued", "queued", len(l.q.Records), "err", err)
			break
		}
		l.q.Records, l.q.Dropped = l.q.Records[n:], 0
	}
	if err := SaveQueue(l.Path, l.q); err != nil {
		l.Log.Warn("saving the flow log queue", "err", err)
	}
}
