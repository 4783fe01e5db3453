package sshd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// Recording limits: how much may wait for the server before the
// session's output waits for it (back-pressure: a session never runs
// ahead of its recording), and how often the recording is sent.
const (
	maxUnsent     = 8 << 20
	flushEvery    = 250 * time.Millisecond
	flushSize     = 64 << 10
	sendAttempts  = 4
	sendRetryWait = 500 * time.Millisecond
)

// castHeader is an asciinema v2 header line.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// recorder writes a session's output as an asciinema v2 cast and streams
// it to the server as it goes (appends at known offsets, so a retried
// append is harmless). Output is text: bytes that are not UTF-8 are
// written as U+FFFD, as asciinema does; a character split between two
// writes is kept whole.
type recorder struct {
	id    string
	send  func(ctx context.Context, id string, offset int64, data []byte) error
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	room    *sync.Cond   // signalled when a send made room in buf
	buf     bytes.Buffer // lines not sent yet
	partial []byte       // the start of a character split between writes
	sent    int64
	err     error
	failed  chan struct{}
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

// startRecording sends the cast's header; the session starts only if
// the server took it.
func startRecording(ctx context.Context, send func(context.Context, string, int64, []byte) error, now func() time.Time, id string, h castHeader) (*recorder, error) {
	r := &recorder{id: id, send: send, now: now, start: now(), failed: make(chan struct{}), kick: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{})}
	r.room = sync.NewCond(&r.mu)
	h.Version, h.Timestamp = 2, r.start.Unix()
	line, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	line = append(line, '\n')
	if err := r.sendRetrying(ctx, line); err != nil {
		return nil, fmt.Errorf("the recording cannot be started: %w", err)
	}
	r.sent = int64(len(line))
	go r.run()
	return r, nil
}

// Write records p as output ("o") at this moment. Past maxUnsent bytes
// not yet sent it waits for the server to take them: the session's
// output goes no faster than its recording.
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.err == nil && r.buf.Len() > maxUnsent {
		select {
		case r.kick <- struct{}{}:
		default:
		}
		r.room.Wait()
	}
	if r.err != nil {
		return 0, r.err
	}
	data := append(r.partial, p...)
	r.partial = nil
	// Hold back an incomplete character at the end.
	if cut := incompleteTail(data); cut > 0 {
		r.partial = append([]byte(nil), data[len(data)-cut:]...)
		data = data[:len(data)-cut]
	}
	if len(data) > 0 {
		r.event("o", data)
	}
	if r.buf.Len() >= flushSize {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Resize records a terminal size change ("r").
func (r *recorder) Resize(w, h int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.event("r", fmt.Appendf(nil, "%dx%d", w, h))
	}
}

func (r *recorder) event(kind string, data []byte) {
	t := r.now().Sub(r.start).Seconds()
	s, _ := json.Marshal(string(bytes.ToValidUTF8(data, []byte("\uFFFD"))))
	fmt.Fprintf(&r.buf, "[%.6f, %q, %s]\n", t, kind, s)
}

// incompleteTail returns how many bytes at the end of b begin a UTF-8
// character that is not complete yet.
func incompleteTail(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}

func (r *recorder) failLocked(err error) {
	if r.err == nil {
		r.err = err
		close(r.failed)
		r.room.Broadcast()
	}
}

// Failed is closed when the recording cannot go on: the session must end.
func (r *recorder) Failed() <-chan struct{} { return r.failed }

// Err says why the recording failed (nil: it did not).
func (r *recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recorder) run() {
	defer close(r.stopped)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		case <-r.done:
			r.flush()
			return
		}
		if r.flush() != nil {
			return
		}
	}
}

func (r *recorder) flush() error {
	r.mu.Lock()
	if r.err != nil || r.buf.Len() == 0 {
		err := r.err
		r.mu.Unlock()
		return err
	}
	data := bytes.Clone(r.buf.Bytes())
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := r.sendRetrying(ctx, data)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failLocked(fmt.Errorf("the recording cannot be sent: %w", err))
		return r.err
	}
	r.buf.Next(len(data))
	r.sent += int64(len(data))
	r.room.Broadcast()
	return nil
}

func (r *recorder) sendRetrying(ctx context.Context, data []byte) error {
	var err error
	for i := range sendAttempts {
		if err = r.send(ctx, r.id, r.sent, data); err == nil {
			return nil
		}
		if i < sendAttempts-1 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(sendRetryWait << i):
			}
		}
	}
	return err
}

// Close writes what is left (a split character as U+FFFD) and waits for
// it to reach the server.
func (r *recorder) Close() error {
	r.mu.Lock()
	if len(r.partial) > 0 && r.err == nil {
		r.event("o", r.partial)
		r.partial = nil
	}
	r.mu.Unlock()
	close(r.done)
	<-r.stopped
	return r.Err()
}

// Sent is the size of the cast the server holds.
func (r *recorder) Sent() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}
