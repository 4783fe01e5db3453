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
)

// A request whose client left gets no ERROR line and no 500: at 50,000
// agents, restarts and load-balancer timeouts made thousands of both.
func TestClientGoneIsNotAServerError(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	dbErr := errors.New("store: list flags: context canceled")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/agent/flags", nil)
	rec := httptest.NewRecorder()
	s.writeError(rec, gone, dbErr)
	if rec.Code != statusClientClosed || logs.Len() != 0 {
		t.Fatalf("client gone: status %d, log %q; want %d and nothing at info or above", rec.Code, logs.String(), statusClientClosed)
	}

	live := httptest.NewRequest(http.MethodGet, "/api/v1/agent/flags", nil)
	rec = httptest.NewRecorder()
	s.writeError(rec, live, dbErr)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "level=ERROR") || strings.Contains(rec.Body.String(), "store:") {
		t.Fatalf("server failure: status %d, body %q, log %q; want 500, an ERROR line and no internal text", rec.Code, rec.Body.String(), logs.String())
	}
}
