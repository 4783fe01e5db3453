package flowlog

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var (
	me, peer, stranger = netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("100.64.0.9")
	names              = Names{Self: map[netip.Addr]string{me: "m_me"}, Peers: map[netip.Addr]string{peer: "m_peer"}, Paths: map[string]string{"m_peer": "peer-relay"}}
	t0                 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
)

// Records puts each stat the way round people read it: Src opened the
// connection, Tx is what Src sent; machines and the path are named; a
// record of a long flow starts at the interval; refused attempts are
// records too, with why.
func TestRecords(t *testing.T) {
	flows := []filter.FlowStat{
		{Proto: 6, Local: me, Remote: peer, LPort: 80, RPort: 40000, Inbound: true, Opened: t0.Add(-time.Hour), Last: t0.Add(30 * time.Second),
			OutPackets: 10, OutBytes: 15000, InPackets: 8, InBytes: 600, Rule: "from tag:web: tcp ports 80"},
		{Proto: 17, Local: me, Remote: peer, LPort: 5353, RPort: 53, Opened: t0.Add(10 * time.Second), Last: t0.Add(11 * time.Second),
			OutPackets: 1, OutBytes: 60, InPackets: 1, InBytes: 120},
	}
	denials := []filter.Denial{{Proto: 6, Src: stranger, Dst: me, Port: 22, First: t0.Add(time.Second), Last: t0.Add(2 * time.Second), Packets: 3, Bytes: 180, Why: "no rule allows it"}}
	// A packet to an address that is neither this machine's nor in what it
	// routes is not logged (the server would refuse the record).
	lan := netip.MustParseAddr("10.20.0.5")
	forwarded := append(flows, filter.FlowStat{Proto: 6, Local: lan, Remote: peer, LPort: 443, RPort: 50000, Inbound: true, Opened: t0, Last: t0, InPackets: 1})
	got := Records(forwarded, append(denials, filter.Denial{Proto: 6, Src: peer, Dst: lan, Port: 25, First: t0, Last: t0, Packets: 1}), names, 1, t0, maphash.MakeSeed())
	if len(got) != 3 {
		t.Fatalf("%d records", len(got))
	}
	in, out, denied := got[0], got[1], got[2]
	if in.Src != "100.64.0.2" || in.Dst != "100.64.0.1" || in.DstPort != 80 || in.TxBytes != 600 || in.RxBytes != 15000 ||
		in.SrcMachine != "m_peer" || in.DstMachine != "m_me" || in.Path != "peer-relay" || in.Rule == "" || !in.Start.Equal(t0) || in.Proto != "tcp" {
		t.Errorf("inbound: %+v", in)
	}
	if out.Src != "100.64.0.1" || out.DstPort != 53 || out.TxBytes != 60 || out.RxBytes != 120 || out.Proto != "udp" || !out.Start.Equal(t0.Add(10*time.Second)) {
		t.Errorf("outbound: %+v", out)
	}
	if denied.Verdict != wire.FlowDenied || denied.SrcMachine != "" || denied.DstMachine != "m_me" || denied.TxPackets != 3 || denied.Rule != "no rule allows it" || denied.Path != "" {
		t.Errorf("denied: %+v", denied)
	}
	for _, r := range got {
		if err := r.Validate([]netip.Addr{me}); err != nil {
			t.Errorf("a record the server would refuse: %v", err)
		}
	}
	// Sampling keeps the same flows every interval, about the share asked
	// for; refused attempts are all kept.
	var many []filter.FlowStat
	for i := range 1000 {
		many = append(many, filter.FlowStat{Proto: 6, Local: me, Remote: peer, LPort: uint16(1000 + i), RPort: 80, Opened: t0, Last: t0, OutPackets: 1})
	}
	seed := maphash.MakeSeed()
	a, b := Records(many, denials, names, 0.25, t0, seed), Records(many, denials, names, 0.25, t0, seed)
	if len(a) < 200 || len(a) > 300 || len(a) != len(b) || a[len(a)-1].Verdict != wire.FlowDenied {
		t.Errorf("sampled %d then %d of 1,000 flows (+1 refusal)", len(a), len(b))
	}
	for i := range a {
		if a[i].SrcPort != b[i].SrcPort {
			t.Fatal("sampling picked other flows the second time")
		}
	}
}

// The queue keeps at most its bound, dropping the oldest and counting
// them; its file survives a restart and a torn one is replaced.
func TestQueue(t *testing.T) {
	var q Queue
	for i := range 5 {
		q.add([]wire.FlowRecord{{SrcPort: uint16(i)}, {SrcPort: uint16(100 + i)}}, 6)
	}
	if len(q.Records) != 6 || q.Dropped != 4 || q.Records[0].SrcPort != 2 {
		t.Fatalf("queue %d records, %d dropped, oldest %d", len(q.Records), q.Dropped, q.Records[0].SrcPort)
	}
	path := filepath.Join(t.TempDir(), "flows-queue.json.gz")
	if err := SaveQueue(path, q); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("queue file mode %v", fi.Mode().Perm())
	}
	back, err := LoadQueue(path)
	if err != nil || len(back.Records) != 6 || back.Dropped != 4 {
		t.Fatalf("reloaded %+v, %v", back, err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)/2], 0o600)
	if q, err := LoadQueue(path); err == nil || len(q.Records) != 0 {
		t.Fatalf("a torn queue: %v, %d records", err, len(q.Records))
	}
	if err := SaveQueue(path, Queue{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("an empty queue leaves its file behind")
	}
}

type fakeSource struct {
	mu    sync.Mutex
	on    bool
	flows []filter.FlowStat
}

func (f *fakeSource) Collect(int) ([]filter.FlowStat, []filter.Denial, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.flows
	f.flows = nil
	return fl, nil, 2
}

func (f *fakeSource) SetAccounting(on bool) { f.mu.Lock(); f.on = on; f.mu.Unlock() }
func (f *fakeSource) isOn() bool            { f.mu.Lock(); defer f.mu.Unlock(); return f.on }
func (f *fakeSource) add(st filter.FlowStat) {
	f.mu.Lock()
	f.flows = append(f.flows, st)
	f.mu.Unlock()
}

type fakeSender struct {
	down   bool
	refuse bool
	got    []wire.FlowReport
}

func (f *fakeSender) ReportFlows(_ context.Context, r wire.FlowReport) error {
	if f.down {
		return errors.New("server away")
	}
	if f.refuse {
		f.refuse = false
		return wire.Errorf(wire.CodeForbidden, "record 1: the reporting machine is neither end")
	}
	f.got = append(f.got, wire.FlowReport{Records: append([]wire.FlowRecord(nil), r.Records...), Dropped: r.Dropped})
	return nil
}

// The logger follows the policy: accounting on when asked, records every
// interval, kept on disk while the server is away and sent when it comes
// back, by a restarted agent too; off when no longer asked.
func TestLoggerStep(t *testing.T) {
	src, snd := &fakeSource{}, &fakeSender{}
	var cfg *wire.FlowLogs
	path := filepath.Join(t.TempDir(), "q.json.gz")
	newLogger := func() *Logger {
		return &Logger{Source: src, Sender: snd, Path: path, Config: func() *wire.FlowLogs { return cfg },
			Names: func() Names { return names }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	l := newLogger()
	ctx := context.Background()
	if next := l.Step(ctx, t0); src.on || !next.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("off: accounting %v, next %v", src.isOn(), next)
	}
	cfg = &wire.FlowLogs{Sample: 1, IntervalSeconds: 60}
	if next := l.Step(ctx, t0); !src.on || !next.Equal(t0.Add(time.Minute)) || len(snd.got) != 0 {
		t.Fatalf("turned on: accounting %v, next %v, sent %d", src.on, next, len(snd.got))
	}
	flow := filter.FlowStat{Proto: 6, Local: me, Remote: peer, LPort: 80, RPort: 40000, Inbound: true, Opened: t0, Last: t0.Add(time.Second), InPackets: 1, InBytes: 60}
	snd.down = true
	src.flows = []filter.FlowStat{flow}
	l.Step(ctx, t0.Add(time.Minute))
	if len(snd.got) != 0 || len(l.q.Records) != 1 || l.q.Dropped != 2 {
		t.Fatalf("server away: sent %d, queued %d, dropped %d", len(snd.got), len(l.q.Records), l.q.Dropped)
	}
	// The agent restarts; the server comes back.
	snd.down = false
	l2 := newLogger()
	var err error
	if l2.q, err = LoadQueue(path); err != nil {
		t.Fatal(err)
	}
	l2.Step(ctx, t0.Add(2*time.Minute)) // turns on again: delivers the queue
	if len(snd.got) != 1 || len(snd.got[0].Records) != 1 || snd.got[0].Dropped != 2 || snd.got[0].Records[0].DstPort != 80 {
		t.Fatalf("after the restart: %+v", snd.got)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("the delivered queue's file remains")
	}
	cfg = nil
	l2.Step(ctx, t0.Add(3*time.Minute))
	if src.on {
		t.Error("accounting stays on after the policy stopped asking")
	}
}

// At shutdown the interval in progress is collected and saved, and goes
// out after the restart.
func TestStopKeepsTheIntervalInProgress(t *testing.T) {
	src, snd := &fakeSource{}, &fakeSender{down: true}
	cfg := &wire.FlowLogs{Sample: 1, IntervalSeconds: 60}
	path := filepath.Join(t.TempDir(), "q.json.gz")
	l := &Logger{Source: src, Sender: snd, Path: path, Config: func() *wire.FlowLogs { return cfg },
		Names: func() Names { return names }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !src.isOn() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	src.add(filter.FlowStat{Proto: 17, Local: me, Remote: peer, LPort: 5353, RPort: 53, Opened: time.Now(), Last: time.Now(), OutPackets: 1, OutBytes: 70})
	cancel()
	<-done
	q, err := LoadQueue(path)
	if err != nil || len(q.Records) != 1 || q.Records[0].DstPort != 53 {
		t.Fatalf("after the stop the queue holds %+v (%v)", q, err)
	}
}

// A record names the path its flow took when it was last active, from
// the paths sampled during the interval, not the path at its end.
func TestPathAtTheFlowsTime(t *testing.T) {
	src := &fakeSource{}
	paths := map[string]string{"m_peer": wire.PathPeerRelay}
	cfg := &wire.FlowLogs{Sample: 1, IntervalSeconds: 60}
	l := &Logger{Source: src, Sender: &fakeSender{}, Path: filepath.Join(t.TempDir(), "q"), Config: func() *wire.FlowLogs { return cfg },
		Names: func() Names {
			return Names{Self: names.Self, Peers: names.Peers, Paths: map[string]string{"m_peer": wire.PathRelayed}}
		},
		Paths: func() map[string]string { return maps.Clone(paths) }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	l.Step(ctx, t0) // on
	for i := range 10 {
		if i == 5 {
			paths["m_peer"] = wire.PathRelayed // the relay machine died
		}
		l.sample(t0.Add(time.Duration(i*2) * time.Second))
	}
	src.add(filter.FlowStat{Proto: 6, Local: me, Remote: peer, LPort: 40000, RPort: 80, Opened: t0, Last: t0.Add(3 * time.Second), OutPackets: 9})
	src.add(filter.FlowStat{Proto: 1, Local: me, Remote: peer, Opened: t0.Add(15 * time.Second), Last: t0.Add(17 * time.Second), OutPackets: 3})
	snd := l.Sender.(*fakeSender)
	l.Step(ctx, t0.Add(time.Minute))
	if len(snd.got) != 1 || len(snd.got[0].Records) != 2 {
		t.Fatalf("sent %+v", snd.got)
	}
	if p := snd.got[0].Records[0].Path; p != wire.PathPeerRelay {
		t.Errorf("the transfer at +3 s: path %q, want peer-relay", p)
	}
	if p := snd.got[0].Records[1].Path; p != wire.PathRelayed {
		t.Errorf("the pings at +17 s: path %q, want relay", p)
	}
}

// A report the server refuses for its content is dropped and counted,
// not sent forever ahead of every later record.
func TestRefusedReportIsDropped(t *testing.T) {
	src, snd := &fakeSource{}, &fakeSender{}
	cfg := &wire.FlowLogs{Sample: 1, IntervalSeconds: 60}
	l := &Logger{Source: src, Sender: snd, Path: filepath.Join(t.TempDir(), "q"), Config: func() *wire.FlowLogs { return cfg },
		Names: func() Names { return names }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	l.Step(ctx, t0)
	src.add(filter.FlowStat{Proto: 6, Local: me, Remote: peer, LPort: 1, RPort: 2, Opened: t0, Last: t0, OutPackets: 1})
	snd.refuse = true
	l.Step(ctx, t0.Add(time.Minute))
	src.add(filter.FlowStat{Proto: 6, Local: me, Remote: peer, LPort: 3, RPort: 4, Opened: t0, Last: t0, OutPackets: 1})
	l.Step(ctx, t0.Add(2*time.Minute))
	// The refused record and the source's overflow (2 per collection)
	// are told as dropped; the next interval's record goes through.
	if len(snd.got) != 2 || len(snd.got[0].Records) != 0 || snd.got[0].Dropped != 1+2 ||
		len(snd.got[1].Records) != 1 || snd.got[1].Records[0].SrcPort != 3 {
		t.Fatalf("after a refusal: %+v", snd.got)
	}
}

// A subnet router logs the flows it forwards into its routes, and the
// attempts it refuses on the way.
func TestRouterLogsForwardedFlows(t *testing.T) {
	n := names
	n.Serves = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}
	lan, other := netip.MustParseAddr("10.20.0.5"), netip.MustParseAddr("10.30.0.5")
	flows := []filter.FlowStat{
		{Proto: 6, Local: lan, Remote: peer, LPort: 443, RPort: 50000, Inbound: true, Opened: t0, Last: t0, InPackets: 3, Rule: "from tag:eng forwarded to 10.20.0.0/24: tcp ports 443"},
		{Proto: 6, Local: other, Remote: peer, LPort: 443, RPort: 50001, Inbound: true, Opened: t0, Last: t0, InPackets: 1},
	}
	denials := []filter.Denial{{Proto: 6, Src: peer, Dst: lan, Port: 25, First: t0, Last: t0, Packets: 1, Why: "no rule allows it (forwarded)"}}
	got := Records(flows, denials, n, 1, t0, maphash.MakeSeed())
	if len(got) != 2 || got[0].Dst != "10.20.0.5" || got[0].SrcMachine != "m_peer" || got[0].DstMachine != "" || got[1].Verdict != wire.FlowDenied {
		t.Fatalf("records %+v", got)
	}
	for _, r := range got {
		if err := r.ValidateFrom([]netip.Addr{me}, n.Serves); err != nil {
			t.Errorf("a forwarded record the server would refuse: %v", err)
		}
	}
}
