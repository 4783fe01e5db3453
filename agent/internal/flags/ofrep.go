package flags

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
)

// Reasons for values served without the server's confirmation.
const (
	ReasonCached = "CACHED" // from the on-disk cache, not yet confirmed since start
	ReasonStale  = "STALE"  // the server is unreachable; last good value
)

// OFREP error codes (spec v0.3.0).
const (
	codeParse          = "PARSE_ERROR"
	codeInvalidContext = "INVALID_CONTEXT"
	codeNotFound       = "FLAG_NOT_FOUND"
	codeGeneral        = "GENERAL"
)

type ofrepRequest struct {
	Context map[string]any `json:"context"`
}

type ofrepResult struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant,omitempty"`
	Metadata map[string]any  `json:"metadata"`
}

type ofrepError struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// contextError is a request the protocol answers with 400 and a code:
// PARSE_ERROR for a body that is not one JSON object (or repeats a key,
// which two readers could resolve differently), INVALID_CONTEXT for a
// context of the wrong shape.
type contextError struct{ code, details string }

func (e *contextError) Error() string { return e.details }

// readContext parses an OFREP request body; an empty body is an empty
// context.
func readContext(r *http.Request) (string, *contextError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return "", &contextError{codeParse, err.Error()}
	}
	if len(body) > 64<<10 {
		return "", &contextError{codeParse, "request body larger than 64 KiB"}
	}
	if len(body) == 0 {
		return "", nil
	}
	var raw struct {
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return "", &contextError{codeParse, fmt.Sprintf("invalid JSON: %v", err)}
	}
	if err := jsonkeys.Check(body, &raw); err != nil {
		return "", &contextError{codeParse, err.Error()}
	}
	var req ofrepRequest
	if len(raw.Context) > 0 && string(raw.Context) != "null" {
		if err := json.Unmarshal(raw.Context, &req.Context); err != nil {
			return "", &contextError{codeInvalidContext, "context must be an object"}
		}
	}
	v, present := req.Context["targetingKey"]
	tk, isString := v.(string)
	if present && v != nil && !isString {
		return "", &contextError{codeInvalidContext, "targetingKey must be a string"}
	}
	return tk, nil
}

// etagMatches reports whether an If-None-Match header names etag, by the
// weak comparison RFC 9110 (13.1.2) prescribes for it: "*", a list of
// tags, and W/ prefixes all count.
func etagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// Handler serves OFREP single and bulk evaluation from the store.
func Handler(s *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		tk, cerr := readContext(r)
		if cerr != nil {
			writeJSON(w, http.StatusBadRequest, ofrepError{Key: key, ErrorCode: cerr.code, ErrorDetails: cerr.details})
			return
		}
		e, ok := s.Evaluate(key, tk)
		if !ok {
			writeJSON(w, http.StatusNotFound, ofrepError{Key: key, ErrorCode: codeNotFound, ErrorDetails: "flag " + key + " does not exist"})
			return
		}
		writeJSON(w, http.StatusOK, toOFREP(e))
	})
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags", func(w http.ResponseWriter, r *http.Request) {
		tk, cerr := readContext(r)
		if cerr != nil {
			writeJSON(w, http.StatusBadRequest, ofrepError{ErrorCode: cerr.code, ErrorDetails: cerr.details})
			return
		}
		all := s.EvaluateAll(tk)
		out := struct {
			Flags []ofrepResult `json:"flags"`
		}{Flags: make([]ofrepResult, 0, len(all))}
		for _, e := range all {
			out.Flags = append(out.Flags, toOFREP(e))
		}
		body, err := json.Marshal(out)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, ofrepError{ErrorCode: codeGeneral, ErrorDetails: err.Error()})
			return
		}
		etag := bulkETag(out.Flags)
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
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
