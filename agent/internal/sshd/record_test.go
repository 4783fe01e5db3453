package sshd

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

type sink struct {
	mu    sync.Mutex
	data  []byte
	fails int
}

func (s *sink) send(_ context.Context, _ string, off int64, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("unreachable")
	}
	if off < int64(len(s.data)) { // a retry of what arrived
		return nil
	}
	s.data = append(s.data, b...)
	return nil
}

func TestRecorder(t *testing.T) {
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	s := &sink{fails: 1} // the first try of the header fails: retried
	r, err := startRecording(context.Background(), s.send, now, "id", castHeader{Width: 100, Height: 30, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	euro := "€" // three bytes, written apart
	r.Write([]byte("a" + euro[:1]))
	clock = clock.Add(1500 * time.Millisecond)
	r.Write([]byte(euro[1:] + "b\xff"))
	r.Resize(120, 40)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(s.data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("%q", s.data)
	}
	var h castHeader
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Version != 2 || h.Width != 100 || h.Timestamp != 1000 {
		t.Errorf("header %q %v", lines[0], err)
	}
	for i, want := range []string{`[0.000000, "o", "a"]`, "[1.500000, \"o\", \"€b\ufffd\"]", `[1.500000, "r", "120x40"]`} {
		if lines[i+1] != want {
			t.Errorf("line %d: %s, want %s", i+1, lines[i+1], want)
		}
	}
	if r.Sent() != int64(len(s.data)) {
		t.Errorf("sent %d of %d", r.Sent(), len(s.data))
	}
}

// When the server does not take the recording, Failed closes: the
// session must end.
func TestRecorderFails(t *testing.T) {
	s := &sink{}
	r, err := startRecording(context.Background(), s.send, time.Now, "id", castHeader{})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.fails = 1000
	s.mu.Unlock()
	r.Write([]byte("lost"))
	select {
	case <-r.Failed():
	case <-time.After(20 * time.Second):
		t.Fatal("the recording did not fail")
	}
	if _, err := r.Write([]byte("more")); err == nil {
		t.Error("writes go on after the failure")
	}
	if r.Close() == nil {
		t.Error("Close says all went well")
	}
	if _, err := startRecording(context.Background(), (&sink{fails: 100}).send, time.Now, "id2", castHeader{}); err == nil {
		t.Error("a recording the server never took started")
	}
}

// A slow server slows the session down instead of letting it run ahead
// of its recording: past maxUnsent a write waits for a send.
func TestRecorderBackPressure(t *testing.T) {
	gate := make(chan struct{})
	s := &sink{}
	send := func(ctx context.Context, id string, off int64, b []byte) error {
		if off > 0 {
			<-gate
		}
		return s.send(ctx, id, off, b)
	}
	r, err := startRecording(context.Background(), send, time.Now, "id", castHeader{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("x", 1<<20))
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for range 20 {
			r.Write(chunk)
			n++
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("%d MiB written while the server took nothing", n)
	case <-time.After(500 * time.Millisecond):
	}
	close(gate)
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("writes did not go on once the server took the recording")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(s.data), strings.Repeat("x", 1<<20)); got != 20 {
		t.Errorf("%d of 20 chunks recorded", got)
	}
}
