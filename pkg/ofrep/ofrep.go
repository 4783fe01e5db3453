// Package ofrep serves the OpenFeature Remote Evaluation Protocol (OFREP,
// spec v0.3.0): POST /ofrep/v1/evaluate/flags/{key} and the bulk POST
// /ofrep/v1/evaluate/flags. The agent serves it on the machine from its
// cached flag set, the server to application clients from the store; both
// give this package an Evaluator, so the protocol — request parsing, the
// error codes, the answers' shapes, the bulk ETag — is one code, tested
// once, and the evaluation itself is pkg/flageval's in both.
package ofrep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
)

// Paths.
const (
	PathBulk   = "/ofrep/v1/evaluate/flags"
	PathSingle = PathBulk + "/{key}"
)

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// Error codes (spec v0.3.0).
const (
	CodeParse          = "PARSE_ERROR"
	CodeInvalidContext = "INVALID_CONTEXT"
	CodeNotFound       = "FLAG_NOT_FOUND"
	CodeGeneral        = "GENERAL"
)

// Result is one flag's evaluation.
type Result struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant,omitempty"`
	Metadata map[string]any  `json:"metadata"`
}

// Error is a refused evaluation.
type Error struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

// Context is the request's evaluation context: its targeting key and the
// other attributes.
type Context struct {
	TargetingKey string
	Attrs        map[string]any
}

// Strings returns a context attribute that is a string or a list of
// strings, as a list (nil when absent or of another type).
func (c Context) Strings(name string) []string {
	switch v := c.Attrs[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// String returns a string attribute ("" when absent or not a string).
func (c Context) String(name string) string {
	s, _ := c.Attrs[name].(string)
	return s
}

// Evaluator evaluates flags for a request. Evaluate's ok is false for a
// flag the caller may not know of (it answers FLAG_NOT_FOUND).
type Evaluator interface {
	Evaluate(r *http.Request, key string, c Context) (res Result, ok bool)
	EvaluateAll(r *http.Request, c Context) []Result
}

// Handler serves single and bulk evaluation. bulkETag, when set, names a
// bulk answer for If-None-Match (nil: an ETag of every result whole).
func Handler(e Evaluator, bulkETag func([]Result) string) http.Handler {
	if bulkETag == nil {
		bulkETag = wholeETag
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathSingle, func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		c, cerr := ReadContext(r)
		if cerr != nil {
			WriteJSON(w, http.StatusBadRequest, Error{Key: key, ErrorCode: cerr.Code, ErrorDetails: cerr.Details})
			return
		}
		res, ok := e.Evaluate(r, key, c)
		if !ok {
			WriteJSON(w, http.StatusNotFound, Error{Key: key, ErrorCode: CodeNotFound, ErrorDetails: "flag " + key + " does not exist"})
			return
		}
		WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST "+PathBulk, func(w http.ResponseWriter, r *http.Request) {
		c, cerr := ReadContext(r)
		if cerr != nil {
			WriteJSON(w, http.StatusBadRequest, Error{ErrorCode: cerr.Code, ErrorDetails: cerr.Details})
			return
		}
		out := struct {
			Flags []Result `json:"flags"`
		}{Flags: e.EvaluateAll(r, c)}
		if out.Flags == nil {
			out.Flags = []Result{}
		}
		body, err := json.Marshal(out)
		if err != nil {
			WriteJSON(w, http.StatusInternalServerError, Error{ErrorCode: CodeGeneral, ErrorDetails: err.Error()})
			return
		}
		etag := bulkETag(out.Flags)
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && ETagMatches(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}

func wholeETag(results []Result) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(results)
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

// WriteJSON writes v as the answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ContextError is a request the protocol answers with 400 and a code:
// PARSE_ERROR for a body that is not one JSON object (or repeats a key,
// which two readers could resolve differently), INVALID_CONTEXT for a
// context of the wrong shape.
type ContextError struct{ Code, Details string }

func (e *ContextError) Error() string { return e.Details }

// ReadContext parses a request body; an empty body is an empty context.
func ReadContext(r *http.Request) (Context, *ContextError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Context{}, &ContextError{CodeParse, err.Error()}
	}
	if len(body) > MaxBody {
		return Context{}, &ContextError{CodeParse, "request body larger than 64 KiB"}
	}
	if len(body) == 0 {
		return Context{}, nil
	}
	var raw struct {
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Context{}, &ContextError{CodeParse, fmt.Sprintf("invalid JSON: %v", err)}
	}
	if err := jsonkeys.Check(body, &raw); err != nil {
		return Context{}, &ContextError{CodeParse, err.Error()}
	}
	var c Context
	if len(raw.Context) > 0 && string(raw.Context) != "null" {
		if err := json.Unmarshal(raw.Context, &c.Attrs); err != nil {
			return Context{}, &ContextError{CodeInvalidContext, "context must be an object"}
		}
	}
	v, present := c.Attrs["targetingKey"]
	tk, isString := v.(string)
	if present && v != nil && !isString {
		return Context{}, &ContextError{CodeInvalidContext, "targetingKey must be a string"}
	}
	c.TargetingKey = tk
	return c, nil
}

// ETagMatches reports whether an If-None-Match header names etag, by the
// weak comparison RFC 9110 (13.1.2) prescribes for it: "*", a list of
// tags, and W/ prefixes all count.
func ETagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}
