package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/server/internal/reqid"
)

// Every answer carries an X-Request-ID, a proxy's well-formed one is kept
// and a hostile one replaced, and a failure's log line names it.
func TestRequestIDs(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	h := reqid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errors.New("store: disk I/O error"))
	}))
	for _, tc := range []struct{ sent, want string }{
		{"", ""},
		{"proxy-7f3a.1", "proxy-7f3a.1"},
		{"evil\" level=INFO", ""},
		{strings.Repeat("a", 65), ""},
	} {
		logs.Reset()
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/x", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-ID", tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-ID")
		if tc.want != "" && id != tc.want || tc.want == "" && (len(id) != 16 || id == tc.sent) {
			t.Errorf("sent %q: answer's ID %q", tc.sent, id)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+id+`"`) {
			t.Errorf("sent %q: the log line does not name %q: %s", tc.sent, id, logs.String())
		}
	}
}
