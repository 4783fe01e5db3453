package flags

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wirefleet/wirefleet/pkg/ofrep"
)

// Reasons for values served without the server's confirmation.
const (
	ReasonCached = "CACHED" // from the on-disk cache, not yet confirmed since start
	ReasonStale  = "STALE"  // the server is unreachable; last good value
)

// ofrepResult is the protocol's answer for one flag.
type ofrepResult = ofrep.Result

// toOFREP turns an evaluation into the protocol's shape: the reason is the
// evaluation's own when the set is confirmed by the server, else CACHED or
// STALE, with the evaluation reason and the age in the metadata.
func toOFREP(e Eval) ofrepResult {
	reason := e.Reason
	switch {
	case e.Freshness.Source == "cache":
		reason = ReasonCached
	case e.Freshness.Stale:
		reason = ReasonStale
	}
	md := map[string]any{
		"evaluationReason": e.Reason,
		"stale":            e.Freshness.Stale,
		"staleSeconds":     e.Freshness.StaleSeconds,
		"source":           e.Freshness.Source,
		"flagSetVersion":   e.Freshness.Version,
	}
	if e.Freshness.LastSync != nil {
		md["lastSync"] = e.Freshness.LastSync.Format(time.RFC3339)
	}
	return ofrepResult{Key: e.Key, Value: e.Value, Reason: reason, Variant: e.Variant, Metadata: md}
}

// Handler serves OFREP single and bulk evaluation from the store: the
// protocol is pkg/ofrep's (the server's answers to application clients
// share it), the evaluation pkg/flageval's over this machine's facts.
func Handler(s *Store) http.Handler {
	return ofrep.Handler(storeEvaluator{s}, bulkETag)
}

// storeEvaluator evaluates from the cached flag set.
type storeEvaluator struct{ s *Store }

func (e storeEvaluator) Evaluate(_ *http.Request, key string, c ofrep.Context) (ofrep.Result, bool) {
	ev, ok := e.s.Evaluate(key, c.TargetingKey)
	if !ok {
		return ofrep.Result{}, false
	}
	return toOFREP(ev), true
}

func (e storeEvaluator) EvaluateAll(_ *http.Request, c ofrep.Context) []ofrep.Result {
	all := e.s.EvaluateAll(c.TargetingKey)
	out := make([]ofrep.Result, 0, len(all))
	for _, ev := range all {
		out = append(out, toOFREP(ev))
	}
	return out
}

// Serve listens on addr (127.0.0.1:8016 by default) until ctx ends.
func Serve(ctx context.Context, addr string, s *Store) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("flags: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(s), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bulkETag identifies what a bulk answer says — each flag's value, reason,
// variant, staleness, source and set version — and not the seconds since
// the last sync, which change every second and would defeat If-None-Match.
func bulkETag(results []ofrepResult) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, r := range results {
		_ = enc.Encode([]any{r.Key, r.Value, r.Reason, r.Variant, r.Metadata["evaluationReason"], r.Metadata["stale"], r.Metadata["source"], r.Metadata["flagSetVersion"]})
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}
