package reqid

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name, given string
		keep        bool
	}{
		{"a proxy's ID", "req-42.a_b", true},
		{"none", "", false},
		{"a forged log field", "x\" admin=true", false},
		{"a header injection", "x\r\nSet-Cookie: a=b", false},
		{"too long", strings.Repeat("a", 65), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen string
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(Header, tc.given)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(Header)
			if got != seen || !Valid(got) || (got == tc.given) != tc.keep {
				t.Fatalf("given %q: answer %q, context %q, want kept=%v", tc.given, got, seen, tc.keep)
			}
		})
	}
	// An ID already in the context (an outer handler's) is kept.
	inner := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	outer := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before := From(r.Context())
		inner.ServeHTTP(w, r)
		if w.Header().Get(Header) != before {
			t.Errorf("the inner middleware replaced %q", before)
		}
	}))
	outer.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if From(context.Background()) != "" {
		t.Error("an ID outside a request")
	}
}
