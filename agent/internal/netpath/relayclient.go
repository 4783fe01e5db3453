package netpath

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// Dialer opens the relay WebSocket (pkg/client.DialRelay, with the
// machine credential and the pinned TLS of the agent's server client).
type Dialer func(ctx context.Context) (*websocket.Conn, error)

// relayClient keeps one WebSocket to the server's relay open, sends
// frames on it and hands received frames to deliver. Packets sent while
// it is (re)connecting wait in a short queue, so the first handshake of
// a freshly started agent is not lost to the dial.
type relayClient struct {
	dial    Dialer
	log     *slog.Logger
	deliver func(relayframe.Frame)
	ping    time.Duration

	mu      sync.Mutex
	conn    *websocket.Conn
	batch   bool     // the server speaks relayframe.Protocol2 on conn
	pending [][]byte // frames queued while not connected
	since   time.Time
	down    time.Time // when the connection was last lost (or first dialled)
	lastErr string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const relayQueue = 64

func newRelayClient(dial Dialer, log *slog.Logger, deliver func(relayframe.Frame)) *relayClient {
	return &relayClient{dial: dial, log: log, deliver: deliver, ping: 10 * time.Second}
}

// start connects and keeps connecting until stop.
func (c *relayClient) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.cancel, c.down = cancel, time.Now()
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop(ctx)
	}()
}

func (c *relayClient) stop() {
	c.mu.Lock()
	cancel, conn := c.cancel, c.conn
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if conn != nil {
		conn.CloseNow()
	}
	c.wg.Wait()
}

func (c *relayClient) loop(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.setErr(err)
			d := min(time.Second<<min(failures, 5), 30*time.Second)
			failures++
			if failures == 1 || failures%10 == 0 {
				c.log.Warn("relay: cannot connect; retrying", "err", err, "retry_in", d, "failures", failures)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
			continue
		}
		if failures > 0 {
			c.log.Info("relay: connected", "after_failures", failures)
		}
		failures = 0
		batch := conn.Subprotocol() == relayframe.Protocol2
		conn.SetReadLimit(relayframe.MaxFrame)
		if batch {
			conn.SetReadLimit(relayframe.MaxBatch)
		}
		c.mu.Lock()
		c.conn, c.batch, c.since, c.lastErr = conn, batch, time.Now(), ""
		queued := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, f := range queued {
			_ = conn.Write(ctx, websocket.MessageBinary, f)
		}
		err = c.serve(ctx, conn)
		c.mu.Lock()
		c.conn, c.batch, c.down = nil, false, time.Now()
		c.mu.Unlock()
		conn.CloseNow()
		if ctx.Err() != nil {
			return
		}
		c.setErr(err)
		c.log.Info("relay: connection ended; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// serve reads frames and pings the server until the connection fails.
func (c *relayClient) serve(ctx context.Context, conn *websocket.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(c.ping)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, c.ping/2)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				conn.CloseNow() // the server vanished without closing: reconnect
				return
			}
		}
	}()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		if relayframe.IsBatch(b) {
			_ = relayframe.Split(b, c.deliverFrame) // frames before a malformed length still count
			continue
		}
		c.deliverFrame(b)
	}
}

func (c *relayClient) deliverFrame(b []byte) {
	f, err := relayframe.Parse(b)
	if err != nil || f.Type == relayframe.TypeSend {
		return
	}
	c.deliver(f)
}

func (c *relayClient) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err.Error()
	}
}

var errRelayDown = errors.New("netpath: relay not connected")

// send relays packets to the peer with key dst.
func (c *relayClient) send(dst relayframe.Key, bufs [][]byte) error {
	c.mu.Lock()
	conn := c.conn
	if conn == nil {
		for _, b := range bufs {
			if len(c.pending) < relayQueue {
				c.pending = append(c.pending, relayframe.Append(nil, relayframe.TypeSend, dst, b))
			}
		}
		c.mu.Unlock()
		return nil
	}
	batch := c.batch
	c.mu.Unlock()
	if batch && len(bufs) > 1 {
		// wireguard-go hands over a whole batch for one peer: one
		// message (or a few, at MaxBatch) instead of one per packet.
		msg := relayframe.NewBatch(make([]byte, 0, min(relayframe.MaxBatch, 1+len(bufs)*(2+relayframe.HeaderLen+1500))))
		for _, b := range bufs {
			if len(msg)+2+relayframe.HeaderLen+len(b) > relayframe.MaxBatch && len(msg) > 1 {
				if err := conn.Write(context.Background(), websocket.MessageBinary, msg); err != nil {
					return errRelayDown
				}
				msg = relayframe.NewBatch(msg)
			}
			msg = relayframe.AppendBatched(msg, relayframe.TypeSend, dst, b)
		}
		if err := conn.Write(context.Background(), websocket.MessageBinary, msg); err != nil {
			return errRelayDown
		}
		return nil
	}
	frame := make([]byte, 0, relayframe.HeaderLen+1500)
	for _, b := range bufs {
		frame = relayframe.Append(frame[:0], relayframe.TypeSend, dst, b)
		if err := conn.Write(context.Background(), websocket.MessageBinary, frame); err != nil {
			return errRelayDown
		}
	}
	return nil
}

// connected reports whether the relay is up.
func (c *relayClient) connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// reconnectGrace is how long packets keep going to the relay (queued)
// while it reconnects, before peers fall back to guessing a direct path.
const reconnectGrace = 3 * time.Second

// usable reports whether packets should go to the relay: it is up, or
// was lost so recently that it is likely back in a moment.
func (c *relayClient) usable(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil || now.Sub(c.down) < reconnectGrace
}

// RelayStatus is what `status` shows of the relay connection.
type RelayStatus struct {
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (c *relayClient) status() RelayStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := RelayStatus{Connected: c.conn != nil, LastError: c.lastErr}
	if c.conn != nil {
		st.Since = c.since.UTC()
	}
	return st
}
