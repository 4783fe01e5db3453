// Package reqid gives every HTTP request an ID that the answer carries in
// X-Request-ID and every log line about the request names, so an admin
// can find the server's side of a failure a user reports.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// Header is the request and response header that carries the ID.
const Header = "X-Request-ID"

type key struct{}

// Middleware takes the caller's X-Request-ID when it is a short token (a
// proxy's), else makes a random one, and puts it in the answer's header
// and the request's context. An ID already in the context (an outer
// handler's) is kept.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if From(r.Context()) != "" {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(Header)
		if !Valid(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, id)))
	})
}

// Valid admits 1–64 characters of [A-Za-z0-9._-]: nothing that could
// forge log fields or headers.
func Valid(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// From returns the request's ID ("" outside a request).
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
