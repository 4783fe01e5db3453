package flags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sampleSet(version int64, prodValue string) wire.FlagSet {
	return wire.FlagSet{Version: version, Machine: wire.MachineFacts{ID: "m_1", Name: "web-1", Tags: []string{"env:prod"}, OS: "linux", AgentVersion: "1.0.0"},
		Flags: []wire.Flag{
			{Key: "new-ui", Type: "string", Enabled: true, Default: json.RawMessage(`"off"`),
				Rules: []wire.FlagRule{{Tags: []string{"env:prod"}, Value: json.RawMessage(prodValue), Variant: "prod"}}},
			{Key: "limit", Type: "number", Enabled: true, Default: json.RawMessage(`10`)},
		}}
}

func post(t *testing.T, h http.Handler, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestOFREPSingleBulkErrorsAndETag(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "flags.json"), quiet)
	s.Update(sampleSet(3, `"on"`), `"3-x"`)
	h := Handler(s)

	rec := post(t, h, "/ofrep/v1/evaluate/flags/new-ui", `{"context":{"targetingKey":"user-7"}}`)
	var one ofrepResult
	json.Unmarshal(rec.Body.Bytes(), &one)
	if rec.Code != 200 || string(one.Value) != `"on"` || one.Reason != "TARGETING_MATCH" || one.Variant != "prod" || one.Metadata["stale"] != false {
		t.Fatalf("single: %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, h, "/ofrep/v1/evaluate/flags/nope", `{}`); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"errorCode":"FLAG_NOT_FOUND"`) {
		t.Fatalf("missing flag: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []struct{ body, code string }{
		{`{"context":`, "PARSE_ERROR"},
		{`[1]`, "PARSE_ERROR"},
		{`{"context":{"targetingKey":"a","targetingKey":"b"}}`, "PARSE_ERROR"},
		{`{"context":{},"CONTEXT":{}}`, "PARSE_ERROR"},
		{`{"context":{"targetingKey":7}}`, "INVALID_CONTEXT"},
		{`{"context":{"targetingKey":{"id":"u"}}}`, "INVALID_CONTEXT"},
		{`{"context":[1]}`, "INVALID_CONTEXT"},
	} {
		for _, path := range []string{"/ofrep/v1/evaluate/flags/new-ui", "/ofrep/v1/evaluate/flags"} {
			if rec := post(t, h, path, bad.body); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"errorCode":"`+bad.code+`"`) {
				t.Errorf("%s %s: %d %s, want 400 %s", path, bad.body, rec.Code, rec.Body, bad.code)
			}
		}
	}
	if rec := post(t, h, "/ofrep/v1/evaluate/flags/new-ui", ""); rec.Code != 200 {
		t.Fatalf("empty body must be an empty context: %d", rec.Code)
	}
	bulk := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`)
	var all struct{ Flags []ofrepResult }
	json.Unmarshal(bulk.Body.Bytes(), &all)
	etag := bulk.Header().Get("ETag")
	if bulk.Code != 200 || len(all.Flags) != 2 || etag == "" {
		t.Fatalf("bulk: %d %s", bulk.Code, bulk.Body)
	}
	if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", etag); rec.Code != 304 {
		t.Fatalf("bulk with matching If-None-Match: %d", rec.Code)
	}
	// RFC 9110's weak comparison: a weak tag, a list, and "*" match too.
	for _, inm := range []string{"W/" + etag, `"other", ` + etag, `W/"other",W/` + etag, "*"} {
		if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", inm); rec.Code != 304 {
			t.Errorf("bulk with If-None-Match %s: %d, want 304", inm, rec.Code)
		}
	}
	if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", `"other", W/"else"`); rec.Code != 200 {
		t.Errorf("bulk with other tags: %d, want 200", rec.Code)
	}
	// Time passing changes nothing the answer says: still 304 (before, the
	// ETag hashed staleSeconds and changed every second).
	now := time.Now()
	s.now = func() time.Time { return now.Add(7 * time.Second) }
	if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", etag); rec.Code != 304 {
		t.Fatalf("bulk 7 s later, nothing changed: %d, want 304", rec.Code)
	}
	if fr := s.Freshness(); fr.StaleSeconds != 0 || fr.Stale {
		t.Fatalf("fresh flags report staleSeconds %d (stale %v), want 0", fr.StaleSeconds, fr.Stale)
	}
	// Turning stale changes the answer (reason STALE) and the age counts.
	s.Failed(errors.New("connection lost"))
	if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", etag); rec.Code != 200 {
		t.Fatalf("bulk after the flags turned stale: %d, want 200", rec.Code)
	}
	if fr := s.Freshness(); fr.StaleSeconds < 7 || !fr.Stale {
		t.Fatalf("stale flags: %+v, want the age since the last sync", fr)
	}
	s.Update(sampleSet(4, `"v2"`), `"4-x"`)
	if rec := post(t, h, "/ofrep/v1/evaluate/flags", `{"context":{}}`, "If-None-Match", etag); rec.Code != 200 {
		t.Fatalf("bulk after a change must not be 304: %d", rec.Code)
	}
}

type fetcher struct {
	sets []wire.FlagSet
	err  error
	n    int
}

func (f *fetcher) AgentFlags(ctx context.Context, etag string, wait time.Duration) (wire.FlagSet, string, bool, error) {
	f.n++
	if f.err != nil {
		return wire.FlagSet{}, "", false, f.err
	}
	if len(f.sets) == 0 {
		<-ctx.Done()
		return wire.FlagSet{}, "", false, ctx.Err()
	}
	s := f.sets[0]
	f.sets = f.sets[1:]
	return s, `"` + string(rune('0'+s.Version)) + `"`, false, nil
}

func TestCacheSurvivesRestartsAndErrorsAndDetectsCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	s := NewStore(path, quiet)
	if fr := s.Freshness(); fr.Source != "none" {
		t.Fatalf("empty store freshness = %+v", fr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	s.Sync(ctx, &fetcher{sets: []wire.FlagSet{sampleSet(5, `"on"`)}}, func(int) time.Duration { return time.Millisecond })
	if e, ok := s.Evaluate("new-ui", ""); !ok || string(e.Value) != `"on"` || toOFREP(e).Reason != "TARGETING_MATCH" {
		t.Fatalf("after sync: %+v", e)
	}

	// A restart with the server down: the cached flags are served, CACHED.
	s2 := NewStore(path, quiet)
	e, ok := s2.Evaluate("new-ui", "")
	if !ok || string(e.Value) != `"on"` || toOFREP(e).Reason != ReasonCached {
		t.Fatalf("from cache: %+v %s", e, toOFREP(e).Reason)
	}
	// The server is unreachable: values stay, marked STALE, never wiped.
	s2.Confirm()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	s2.Sync(ctx, &fetcher{err: errors.New("connection refused")}, func(int) time.Duration { return 10 * time.Millisecond })
	cancel()
	e, ok = s2.Evaluate("new-ui", "")
	if r := toOFREP(e); !ok || string(e.Value) != `"on"` || r.Reason != ReasonStale || r.Metadata["stale"] != true {
		t.Fatalf("while the server is down: %+v", r)
	}
	if fr := s2.Freshness(); !strings.Contains(fr.LastError, "connection refused") {
		t.Fatalf("freshness does not say why: %+v", fr)
	}

	// A torn cache is detected, reported, never trusted, and replaced.
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, raw[:len(raw)/2], 0o600)
	if _, _, _, _, err := LoadCache(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn cache: %v", err)
	}
	flipped := bytes.Replace(raw, []byte(`"on"`), []byte(`"no"`), 1)
	if bytes.Equal(flipped, raw) {
		t.Fatal("test setup: value not found in the cache file")
	}
	os.WriteFile(path, flipped, 0o600)
	if _, _, _, _, err := LoadCache(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered cache: %v", err)
	}
	s3 := NewStore(path, quiet)
	if _, ok := s3.Evaluate("new-ui", ""); ok || !strings.Contains(s3.Freshness().LastError, "corrupt") {
		t.Fatalf("corrupt cache must give no flags and say why: %+v", s3.Freshness())
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	s3.Sync(ctx, &fetcher{sets: []wire.FlagSet{sampleSet(6, `"again"`)}}, func(int) time.Duration { return time.Millisecond })
	if _, _, _, ok, err := LoadCache(path); !ok || err != nil {
		t.Fatalf("cache not replaced after a good sync: %v", err)
	}
}

func BenchmarkOFREPSingle(b *testing.B) {
	s := NewStore(filepath.Join(b.TempDir(), "flags.json"), quiet)
	s.Update(sampleSet(1, `"on"`), `"1"`)
	srv := httptest.NewServer(Handler(s))
	defer srv.Close()
	c := srv.Client()
	body := []byte(`{"context":{"targetingKey":"user-1"}}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post(srv.URL+"/ofrep/v1/evaluate/flags/new-ui", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// waits records the wait of each AgentFlags call and answers 304.
type waits struct {
	mu   sync.Mutex
	seen []time.Duration
	fail int // the first fail calls fail
}

func (w *waits) AgentFlags(ctx context.Context, etag string, wait time.Duration) (wire.FlagSet, string, bool, error) {
	w.mu.Lock()
	w.seen = append(w.seen, wait)
	n := len(w.seen)
	w.mu.Unlock()
	if n <= w.fail {
		return wire.FlagSet{}, "", false, errors.New("connection refused")
	}
	if wait > 0 {
		<-ctx.Done()
		return wire.FlagSet{}, "", false, ctx.Err()
	}
	return wire.FlagSet{}, etag, true, nil
}

// TestFreshnessIsConfirmedAtOnce: after a start (flags from the cache) and
// after an outage the first request asks for an immediate answer, so the
// flags are fresh as soon as the server is reachable — not when a 60 s
// long-poll returns.
func TestFreshnessIsConfirmedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	NewStore(path, quiet).Update(sampleSet(3, `"on"`), `"3-x"`)
	s := NewStore(path, quiet) // a restart: CACHED
	if fr := s.Freshness(); fr.Source != "cache" || !fr.Stale {
		t.Fatalf("after a restart: %+v", fr)
	}
	w := &waits{fail: 1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Sync(ctx, w, func(int) time.Duration { return time.Millisecond }); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for s.Freshness().Stale && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fr := s.Freshness()
	// The held poll that follows is asked for on Sync's goroutine: wait
	// for it before stopping (under load it came after the cancel).
	for time.Now().Before(deadline) {
		w.mu.Lock()
		n := len(w.seen)
		w.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if fr.Stale || fr.Source != "server" {
		t.Fatalf("freshness after the server answered: %+v", fr)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// fail (immediate), confirm after the outage (immediate), then hold.
	if len(w.seen) < 3 || w.seen[0] != 0 || w.seen[1] != 0 || w.seen[2] != 60*time.Second {
		t.Fatalf("waits asked for: %v, want 0 (after the start), 0 (after the failure), then 60s", w.seen)
	}
}

// The flags are current while the server answers on some channel: a
// held poll with no answer for MaxSilence (a hung server keeps it open)
// makes them stale, aged from the last answer; an answer makes them fresh
// again.
func TestFreshnessFollowsTheLastAnswer(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "flags.json"), quiet)
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := t0
	s.now = func() time.Time { return now }
	s.Update(sampleSet(3, `"on"`), `"3-x"`)
	now = t0.Add(30 * time.Second)
	s.Heard() // a health acknowledgement
	now = t0.Add(70 * time.Second)
	if fr := s.Freshness(); fr.Stale {
		t.Fatalf("40 s after the last answer: %+v, want fresh", fr)
	}
	now = t0.Add(80 * time.Second)
	fr := s.Freshness()
	if !fr.Stale || fr.StaleSeconds != 50 || !fr.LastSync.Equal(t0.Add(30*time.Second)) || !strings.Contains(fr.LastError, "no answer from the server") {
		t.Fatalf("50 s after the last answer: %+v, want stale for 50 s since the acknowledgement", fr)
	}
	if e, _ := s.Evaluate("new-ui", ""); toOFREP(e).Reason != ReasonStale {
		t.Fatalf("OFREP reason while silent: %s", toOFREP(e).Reason)
	}
	s.Confirm()
	if fr := s.Freshness(); fr.Stale {
		t.Fatalf("after an answer: %+v", fr)
	}
	// A failed sync is not undone by a health acknowledgement.
	s.Failed(errors.New("connection reset"))
	s.Heard()
	if fr := s.Freshness(); !fr.Stale {
		t.Fatal("a failed flag sync turned fresh on a health acknowledgement")
	}
}

// After a restart without the server, the age counts from the last
// confirmation, which is kept on disk, not from the last change (lastSync
// went backwards from 12:01:14 to 12:01:06).
func TestLastSyncSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	s := NewStore(path, quiet)
	t0 := time.Date(2026, 12, 6, 12, 1, 6, 0, time.UTC)
	now := t0
	s.now = func() time.Time { return now }
	s.Update(sampleSet(3, `"on"`), `"3-x"`)
	now = t0.Add(8 * time.Second)
	s.Confirm()
	now = t0.Add(20 * time.Second)
	s.Heard()
	s.Save() // the agent stops
	r := NewStore(path, quiet)
	r.now = func() time.Time { return t0.Add(60 * time.Second) }
	fr := r.Freshness()
	if fr.LastSync == nil || !fr.LastSync.Equal(t0.Add(20*time.Second)) || fr.StaleSeconds != 40 || fr.Source != "cache" {
		t.Fatalf("after a restart: %+v, want last sync %v and 40 s stale", fr, t0.Add(20*time.Second))
	}
}

// Evaluations are counted per flag for the next health report, and the
// count starts again after it is taken.
func TestUsageIsCounted(t *testing.T) {
	s := NewStore(filepath.Join(t.TempDir(), "flags.json"), quiet)
	s.Update(wire.FlagSet{Version: 1, Machine: wire.MachineFacts{ID: "m"}, Flags: []wire.Flag{
		{Key: "a", Type: "boolean", Enabled: true, Default: []byte("true")},
		{Key: "b", Type: "boolean", Enabled: true, Default: []byte("true")},
	}}, `"1"`)
	for range 3 {
		s.Evaluate("a", "")
	}
	s.Evaluate("missing", "")
	s.EvaluateAll("")
	if got := s.TakeUsage(); got["a"] != 4 || got["b"] != 1 || len(got) != 2 {
		t.Fatalf("usage: %v", got)
	}
	if got := s.TakeUsage(); got != nil {
		t.Fatalf("usage after taking it: %v", got)
	}
}
