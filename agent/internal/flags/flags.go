// Package flags keeps the agent's feature flags: it syncs the machine's
// flag set from the server (long-poll with ETag), keeps the last good set
// on disk (atomic write with a checksum, so a torn file is detected and
// replaced, never trusted), evaluates flags locally, and serves them to
// applications on this machine through an OpenFeature Remote Evaluation
// Protocol (OFREP) endpoint on 127.0.0.1.
//
// Upstream errors never wipe the flags: the last good set keeps being
// served, marked CACHED (loaded at start, not yet confirmed) or STALE (the
// server is unreachable), with the age in the response metadata.
package flags

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/flageval"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// cacheFile is the on-disk form: the set, when it last changed
// (saved_at), when the server last confirmed it (confirmed_at), and a
// checksum of the set's JSON.
type cacheFile struct {
	SavedAt     time.Time       `json:"saved_at"`
	ConfirmedAt time.Time       `json:"confirmed_at,omitzero"`
	ETag        string          `json:"etag"`
	SHA256      string          `json:"sha256"`
	Set         json.RawMessage `json:"set"`
}

// ErrCorrupt means the cache file is torn or was tampered with.
var ErrCorrupt = errors.New("flags: cache file is corrupt")

// LoadCache reads the cache; a missing file is ok=false with no error.
// confirmedAt is the server's last confirmation of the set (its last
// change in a cache written before confirmations were kept).
func LoadCache(path string) (set wire.FlagSet, etag string, confirmedAt time.Time, ok bool, err error) {
	var savedAt time.Time
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return set, "", savedAt, false, nil
	}
	if err != nil {
		return set, "", savedAt, false, fmt.Errorf("flags: read cache: %w", err)
	}
	var c cacheFile
	if err := json.Unmarshal(b, &c); err != nil {
		return set, "", savedAt, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sum := sha256.Sum256(c.Set)
	if hex.EncodeToString(sum[:]) != c.SHA256 {
		return set, "", savedAt, false, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if err := json.Unmarshal(c.Set, &set); err != nil {
		return set, "", savedAt, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	confirmedAt = c.SavedAt
	if c.ConfirmedAt.After(confirmedAt) {
		confirmedAt = c.ConfirmedAt
	}
	return set, c.ETag, confirmedAt, true, nil
}

func saveCache(path string, set wire.FlagSet, etag string, changed, confirmed time.Time) error {
	raw, err := json.Marshal(set)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	b, err := json.Marshal(cacheFile{SavedAt: changed.UTC(), ConfirmedAt: confirmed.UTC(), ETag: etag, SHA256: hex.EncodeToString(sum[:]), Set: raw})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// DefaultMaxSilence is how long the flags count as current without a
// word from the server: the health report's 30 s interval, which brings
// an answer, plus room for a slow one.
const DefaultMaxSilence = 45 * time.Second

// Store is the agent's current flag set.
type Store struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	usage sync.Map // flag key → *atomic.Int64: evaluations since TakeUsage

	mu sync.RWMutex
	// maxSilence: past this long without any answer from the server
	// (see Heard) the flags are stale, even while a long-poll is held.
	// A server that hangs (SIGSTOP, a dead replica behind a proxy)
	// keeps the held poll open and answers nothing; the flags were
	// reported fresh for 56 s of that. 0 turns the check off.
	maxSilence time.Duration
	set        wire.FlagSet
	byKey      map[string]wire.Flag
	etag       string
	loaded     bool      // a set is present (from cache or server)
	synced     bool      // confirmed by the server since start
	lastChange time.Time // when the set last changed (from the server)
	lastSync   time.Time // the server's last confirmation that the set is current
	lastErr    string
	cacheNote  string
}

// NewStore loads the cache at path. A corrupt cache is logged and ignored;
// the next sync replaces it.
func NewStore(path string, log *slog.Logger) *Store {
	s := &Store{path: path, log: log, now: time.Now, byKey: map[string]wire.Flag{}, maxSilence: DefaultMaxSilence}
	set, etag, at, ok, err := LoadCache(path)
	switch {
	case err != nil:
		log.Warn("flag cache unusable; serving no flags until the next sync replaces it", "path", path, "err", err)
		s.cacheNote = err.Error()
	case ok:
		s.install(set, etag)
		s.lastSync, s.lastChange = at, at
		log.Info("flags loaded from cache", "flags", len(set.Flags), "version", set.Version, "saved_at", at)
	}
	return s
}

func (s *Store) install(set wire.FlagSet, etag string) {
	s.set, s.etag, s.loaded = set, etag, true
	s.byKey = make(map[string]wire.Flag, len(set.Flags))
	for _, f := range set.Flags {
		s.byKey[f.Key] = f
	}
}

// Update installs a set fresh from the server and saves it.
func (s *Store) Update(set wire.FlagSet, etag string) {
	now := s.now()
	s.mu.Lock()
	s.install(set, etag)
	s.synced, s.lastSync, s.lastChange, s.lastErr, s.cacheNote = true, now, now, "", ""
	s.mu.Unlock()
	if err := saveCache(s.path, set, etag, now, now); err != nil {
		s.log.Warn("saving the flag cache", "err", err)
	}
}

// Confirm records that the server answered "not modified", and keeps the
// confirmation on disk, so that after a restart without the server the
// age counts from it (it went backwards to the last change before).
func (s *Store) Confirm() {
	s.mu.Lock()
	s.synced, s.lastSync, s.lastErr = true, s.now(), ""
	s.mu.Unlock()
	s.Save()
}

// SetMaxSilence sets how long the flags stay current without an answer
// from the server (DefaultMaxSilence; 0: no limit).
func (s *Store) SetMaxSilence(d time.Duration) {
	s.mu.Lock()
	s.maxSilence = d
	s.mu.Unlock()
}

// Heard records an answer from the server on another channel (a health
// acknowledgement, a network map) while the flag poll is held: the server
// is alive and would have answered the poll had a flag changed, so the
// set is confirmed current.
func (s *Store) Heard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.synced && s.lastErr == "" {
		s.lastSync = s.now()
	}
}

// Save writes the set and its last confirmation to the cache (the agent
// calls it when it stops, to keep the confirmations Heard recorded).
func (s *Store) Save() {
	s.mu.RLock()
	set, etag, changed, confirmed, loaded := s.set, s.etag, s.lastChange, s.lastSync, s.loaded
	s.mu.RUnlock()
	if !loaded {
		return
	}
	if err := saveCache(s.path, set, etag, changed, confirmed); err != nil {
		s.log.Warn("saving the flag cache", "err", err)
	}
}

// Failed records a sync error; the flags stay as they are.
func (s *Store) Failed(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// Clear forgets the flags and deletes the cache (revocation, logout).
func (s *Store) Clear() {
	s.mu.Lock()
	s.set, s.byKey, s.etag, s.loaded, s.synced = wire.FlagSet{}, map[string]wire.Flag{}, "", false, false
	s.mu.Unlock()
	_ = os.Remove(s.path)
}

// ETag returns the ETag of the current set ("" when none).
func (s *Store) ETag() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.etag
}

// Freshness says how current the flags are.
type Freshness struct {
	Source       string     `json:"source"` // server, cache, none
	Stale        bool       `json:"stale"`
	StaleSeconds int64      `json:"stale_seconds"`
	LastSync     *time.Time `json:"last_sync,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Version      int64      `json:"version"`
	Flags        int        `json:"flags"`
}

// Freshness reports the state of the set.
func (s *Store) Freshness() Freshness {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.freshness()
}

func (s *Store) freshness() Freshness {
	f := Freshness{Source: "none", Version: s.set.Version, Flags: len(s.set.Flags), LastError: s.lastErr}
	if s.cacheNote != "" && f.LastError == "" {
		f.LastError = s.cacheNote
	}
	if s.loaded {
		f.Source = "cache"
		if s.synced {
			f.Source = "server"
		}
	}
	now := s.now()
	silent := s.maxSilence > 0 && !s.lastSync.IsZero() && now.Sub(s.lastSync) > s.maxSilence
	f.Stale = !s.synced || s.lastErr != "" || silent
	if silent && f.LastError == "" {
		f.LastError = fmt.Sprintf("no answer from the server for %s", now.Sub(s.lastSync).Round(time.Second))
	}
	if !s.lastSync.IsZero() {
		t := s.lastSync.UTC()
		f.LastSync = &t
		// While fresh a long-poll is held, which the server answers as soon
		// as anything changes: the flags are current, not "as old as the
		// last answer". The age counts only once they are stale.
		if f.Stale {
			f.StaleSeconds = int64(now.Sub(s.lastSync).Seconds())
		}
	}
	return f
}

// Eval is one evaluation as served to applications.
type Eval struct {
	flageval.Result
	Freshness Freshness
}

// Evaluate evaluates key for this machine; ok is false when no such flag.
func (s *Store) Evaluate(key, targetingKey string) (Eval, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.byKey[key]
	if !ok {
		return Eval{}, false
	}
	s.count(key)
	return Eval{Result: flageval.Evaluate(f, s.set.Machine, targetingKey), Freshness: s.freshness()}, true
}

// count adds an evaluation of key to the usage the next health report
// carries.
func (s *Store) count(key string) {
	v, ok := s.usage.Load(key)
	if !ok {
		v, _ = s.usage.LoadOrStore(key, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// TakeUsage returns the evaluations counted per flag since the last call
// (nil: none), and starts counting again.
func (s *Store) TakeUsage() map[string]int64 {
	var out map[string]int64
	s.usage.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Swap(0); n > 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[k.(string)] = n
		} else {
			s.usage.Delete(k)
		}
		return len(out) < wire.MaxFlagUsageKeys
	})
	return out
}

// EvaluateAll evaluates every flag, sorted by key.
func (s *Store) EvaluateAll(targetingKey string) []Eval {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Eval, 0, len(s.set.Flags))
	fr := s.freshness()
	for _, f := range s.set.Flags {
		s.count(f.Key)
		out = append(out, Eval{Result: flageval.Evaluate(f, s.set.Machine, targetingKey), Freshness: fr})
	}
	return out
}

// Fetcher is the server call the syncer makes.
type Fetcher interface {
	AgentFlags(ctx context.Context, etag string, wait time.Duration) (wire.FlagSet, string, bool, error)
}

// Sync keeps the store current until ctx ends: a long-poll that the server
// answers as soon as a flag changes, with backoff on errors. It returns
// the error that makes further syncing pointless (machine revoked).
func (s *Store) Sync(ctx context.Context, f Fetcher, backoff func(int) time.Duration) error {
	failures := 0
	confirmed := false // since the start or the last failure
	for ctx.Err() == nil {
		// The first request after a start or an outage is answered at
		// once, so freshness is confirmed as soon as the server is
		// reachable; then the long-poll waits for changes.
		wait := 60 * time.Second
		if !confirmed {
			wait = 0
		}
		set, etag, notModified, err := f.AgentFlags(ctx, s.ETag(), wait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if wire.ErrorCode(err) == wire.CodeMachineRevoked {
				return err
			}
			s.Failed(err)
			confirmed = false
			d := backoff(failures)
			failures++
			s.log.Warn("flag sync failed; serving the last good flags", "err", err, "retry_in", d.Round(time.Millisecond))
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		failures, confirmed = 0, true
		if notModified {
			s.Confirm()
			continue
		}
		s.Update(set, etag)
		s.log.Info("flags updated", "version", set.Version, "flags", len(set.Flags))
	}
	return nil
}
