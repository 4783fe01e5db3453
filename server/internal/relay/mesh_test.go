package relay

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// meshRigs starts one relay per id, each on its own HTTP server, all on
// one real database, joined with the mesh keys given per replica.
func meshRigs(t *testing.T, keys map[string][]byte, ids ...string) ([]*rig, *store.DB) {
	return meshRigsWith(t, Config{}, keys, ids...)
}

func meshRigsWith(t testing.TB, cfg Config, keys map[string][]byte, ids ...string) ([]*rig, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "mesh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var rigs []*rig
	for _, id := range ids {
		r := newRig(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.srv.RunMesh(ctx, MeshConfig{ID: id, URL: r.base, Keys: [][]byte{keys[id]}, Dir: db, Lease: 600 * time.Millisecond}); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
		rigs = append(rigs, r)
		waitFor(t, id+" in the mesh", func() bool { return meshOf(r) != nil })
	}
	return rigs, db
}

func meshOf(r *rig) *mesh {
	r.srv.mu.RLock()
	defer r.srv.mu.RUnlock()
	return r.srv.mesh
}

// published reports whether the directory has a session for k.
func published(db *store.DB, k relayframe.Key) bool {
	_, err := db.LocateRelaySession(context.Background(), b64(k))
	return err == nil
}

func linked(r *rig, peer string) bool {
	m := meshOf(r)
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.links[peer] != nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMeshForwardsAcrossReplicas: machines whose sessions are on
// different replicas reach each other, both ways, in lone frames and in
// batches; a key with no session anywhere is NoPeer; a session that
// moves to the sender's replica is found there; one that closes on the
// other replica is NoPeer once it has said so.
func TestMeshForwardsAcrossReplicas(t *testing.T) {
	k := []byte("0123456789abcdef0123456789abcdef")
	rigs, db := meshRigs(t, map[string][]byte{"r1": k, "r2": k}, "r1", "r2")
	r1, r2 := rigs[0], rigs[1]
	waitFor(t, "r1 and r2 linked", func() bool { return linked(r1, "r2") && linked(r2, "r1") })
	a := r1.dialWith("m_a", relayframe.Protocol2)
	b := r2.dial("m_b")
	waitFor(t, "both sessions published", func() bool { return published(db, key(1)) && published(db, key(2)) })

	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("a to b")))
	if f := recv(t, b); f.Type != relayframe.TypeRecv || f.Key != key(1) || string(f.Payload) != "a to b" {
		t.Fatalf("b got %+v, want a's frame through r1 → r2", f)
	}
	send(t, b, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(1), []byte("b to a")))
	if f := recv(t, a); f.Key != key(2) || string(f.Payload) != "b to a" {
		t.Fatalf("a got %+v", f)
	}
	// A batch from a: every frame arrives, in order.
	batch := relayframe.NewBatch(nil)
	for i := range 20 {
		batch = relayframe.AppendBatched(batch, relayframe.TypeSend, key(2), []byte{byte(i)})
	}
	send(t, a, websocket.MessageBinary, batch)
	for i := range 20 {
		if f := recv(t, b); !bytes.Equal(f.Payload, []byte{byte(i)}) {
			t.Fatalf("frame %d of the batch: %+v", i, f)
		}
	}
	if got := testutil.ToFloat64(meshOf(r2).frames.WithLabelValues("in")); got != 21 {
		t.Errorf("r2 received %v frames from r1, want 21", got)
	}

	// No session for c anywhere.
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(3), []byte("to c")))
	if f := recv(t, a); f.Type != relayframe.TypeNoPeer || f.Key != key(3) {
		t.Fatalf("a got %+v, want NoPeer for c", f)
	}

	// b leaves r2. r1 still believes it there; r2 says gone, r1 looks
	// again and tells a NoPeer.
	b.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "b's session unpublished", func() bool { return !published(db, key(2)) })
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("hello?")))
	m1 := meshOf(r1)
	waitFor(t, "r2's gone reaching r1", func() bool {
		m1.mu.Lock()
		defer m1.mu.Unlock()
		return !m1.routes[key(2)].found
	})
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("hello?")))
	if f := recv(t, a); f.Type != relayframe.TypeNoPeer || f.Key != key(2) {
		t.Fatalf("a got %+v, want NoPeer for b, gone from r2", f)
	}

	// b reconnects to r1, a's own replica: delivered locally.
	b = r1.dial("m_b")
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("local now")))
	for {
		f := recv(t, b)
		if f.Type == relayframe.TypeRecv && string(f.Payload) == "local now" {
			break
		}
	}
}

// TestMeshRefusesAReplicaWithoutTheKey: a replica holding another key is
// never linked, so it can neither send frames in nor receive any.
func TestMeshRefusesAReplicaWithoutTheKey(t *testing.T) {
	rigs, db := meshRigs(t, map[string][]byte{"r1": []byte("the right key, sixteen+"), "r2": []byte("a wrong key, sixteen+ b")}, "r1", "r2")
	time.Sleep(1500 * time.Millisecond) // several attempts of r1 to link to r2
	if linked(rigs[0], "r2") || linked(rigs[1], "r1") {
		t.Fatal("replicas with different mesh keys linked")
	}
	a := rigs[0].dial("m_a")
	rigs[1].dial("m_b")
	waitFor(t, "b published", func() bool { return published(db, key(2)) })
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("to b")))
	time.Sleep(200 * time.Millisecond)
	if got := testutil.ToFloat64(rigs[0].srv.dropped.WithLabelValues(DropMesh)); got != 1 {
		t.Fatalf("frames dropped for want of a link: %v, want 1", got)
	}
}

// TestMeshRevocationEndsTheSession: a machine leaving the map of the
// replica that holds its session is cut there, and unpublished.
func TestMeshRevocationEndsTheSession(t *testing.T) {
	k := []byte("0123456789abcdef0123456789abcdef")
	rigs, db := meshRigs(t, map[string][]byte{"r1": k, "r2": k}, "r1", "r2")
	rigs[1].dial("m_b")
	waitFor(t, "b published", func() bool { return published(db, key(2)) })
	rigs[1].m.set("m_b", nil)
	waitFor(t, "b unpublished", func() bool { return !published(db, key(2)) })
	if rigs[1].srv.Connected("m_b") {
		t.Fatal("revoked machine still connected")
	}
}

func TestSplitMeshRoundTrip(t *testing.T) {
	src, dst := key(7), key(9)
	fr := relayframe.Append(nil, relayframe.TypeSend, dst, []byte("payload"))
	msg := appendMesh(nil, meshItem{typ: meshSend, key: src, bp: &fr})
	msg = appendMesh(msg, meshItem{typ: meshGone, key: dst})
	var got []string
	err := splitMesh(msg, func(typ byte, k, d relayframe.Key, p []byte) {
		got = append(got, string([]byte{typ, k[0], d[0]})+string(p))
	})
	if err != nil || len(got) != 2 || got[0] != "\x01\x07\x09payload" || got[1] != "\x02\x09\x00" {
		t.Fatalf("split %q, %v", got, err)
	}
	for _, bad := range [][]byte{{0}, {0, 5, 1}, msg[:len(msg)-1], append([]byte{0, 33, 9}, make([]byte, 32)...)} {
		if err := splitMesh(bad, func(byte, relayframe.Key, relayframe.Key, []byte) {}); err == nil {
			t.Errorf("splitMesh(%x) accepted", bad)
		}
	}
}

func FuzzSplitMesh(f *testing.F) {
	fr := relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("x"))
	f.Add(appendMesh(nil, meshItem{typ: meshSend, key: key(1), bp: &fr}))
	f.Add(appendMesh(nil, meshItem{typ: meshGone, key: key(1)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = splitMesh(b, func(typ byte, k, d relayframe.Key, p []byte) {
			if typ != meshSend && typ != meshGone || len(p) > relayframe.MaxPayload {
				t.Fatalf("delivered type %d with %d bytes", typ, len(p))
			}
		})
	})
}

func b64(k relayframe.Key) string { return base64Key(k) }
