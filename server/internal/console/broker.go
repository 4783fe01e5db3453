// Package console connects an admin's terminal in the console to a
// machine's SSH server without opening any port on the machine: the
// server queues the request, the machine's agent (polling while the
// policy gives it ssh rules) dials back a WebSocket, and the server runs
// an SSH client over it, bridged to the browser's WebSocket. The agent's
// SSH server decides by the policy (src "autogroup:admin"), audits and
// records the session as any other.
//
// The broker is in memory: the browser and the machine must reach the
// same replica (a limitation with replicas behind a load balancer).
package console

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// ErrNoAnswer: the machine's agent did not dial back in time (offline,
// an older agent, its SSH server off).
var ErrNoAnswer = errors.New("the machine did not answer: is it online, with an agent that serves SSH?")

// Broker pairs console requests with the agents' connections.
type Broker struct {
	mu     sync.Mutex
	queued map[string][]*pending      // machine ID → not handed out yet
	polls  map[string][]chan struct{} // machine ID → polls waiting
	byID   map[string]*pending
}

type pending struct {
	req     wire.SSHConsoleRequest
	machine string
	conn    chan net.Conn // the agent's, once it dialed back
}

// New returns an empty broker.
func New() *Broker {
	return &Broker{queued: map[string][]*pending{}, polls: map[string][]chan struct{}{}, byID: map[string]*pending{}}
}

// Open asks machine's agent for an SSH connection for req and waits for
// it until ctx ends.
func (b *Broker) Open(ctx context.Context, machine string, req wire.SSHConsoleRequest) (net.Conn, error) {
	p := &pending{req: req, machine: machine, conn: make(chan net.Conn, 1)}
	b.mu.Lock()
	b.queued[machine] = append(b.queued[machine], p)
	b.byID[req.ID] = p
	for _, w := range b.polls[machine] {
		close(w)
	}
	delete(b.polls, machine)
	b.mu.Unlock()
	defer b.forget(p)
	select {
	case c := <-p.conn:
		return c, nil
	case <-ctx.Done():
		return nil, ErrNoAnswer
	}
}

func (b *Broker) forget(p *pending) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byID, p.req.ID)
	q := b.queued[p.machine]
	for i, x := range q {
		if x == p {
			b.queued[p.machine] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(b.queued[p.machine]) == 0 {
		delete(b.queued, p.machine)
	}
}

// Poll returns the requests waiting for machine, holding up to wait for
// one when there is none.
func (b *Broker) Poll(ctx context.Context, machine string, wait time.Duration) []wire.SSHConsoleRequest {
	for first := true; ; first = false {
		b.mu.Lock()
		if q := b.queued[machine]; len(q) > 0 {
			out := make([]wire.SSHConsoleRequest, len(q))
			for i, p := range q {
				out[i] = p.req
			}
			b.queued[machine] = nil
			delete(b.queued, machine)
			b.mu.Unlock()
			return out
		}
		if !first || wait <= 0 {
			b.mu.Unlock()
			return []wire.SSHConsoleRequest{}
		}
		w := make(chan struct{})
		b.polls[machine] = append(b.polls[machine], w)
		b.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-w:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		b.mu.Lock()
		ws := b.polls[machine]
		for i, x := range ws {
			if x == w {
				b.polls[machine] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(b.polls[machine]) == 0 {
			delete(b.polls, machine)
		}
		b.mu.Unlock()
	}
}

// Answer hands machine's connection to request id. It returns false
// when no such request of that machine waits (it ended, or is another
// machine's): the caller closes conn.
func (b *Broker) Answer(machine, id string, conn net.Conn) bool {
	b.mu.Lock()
	p := b.byID[id]
	if p == nil || p.machine != machine {
		b.mu.Unlock()
		return false
	}
	delete(b.byID, id)
	b.mu.Unlock()
	select {
	case p.conn <- conn:
		return true
	default:
		return false
	}
}
