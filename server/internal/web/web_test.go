package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"github.com/wirefleet/wirefleet/server/internal/web"
)

// A page that fails on the server names the request ID the log line
// carries, so an admin can find the cause of what a user reports.
func TestServerErrorPageNamesTheRequestID(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := netmap.New(ctx, db, netmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	w, err := web.New(fleet.New(db, hub, log, fleet.Config{BcryptCost: bcrypt.MinCost}), log, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if csrf == nil {
		t.Fatalf("no CSRF field on the sign-in page")
	}
	db.Close() // the database goes away under the page
	resp, err = c.PostForm(srv.URL+"/login", url.Values{"csrf": {csrf[1]}, "username": {"admin"}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != http.StatusInternalServerError || len(id) != 16 {
		t.Fatalf("answer %d with request ID %q", resp.StatusCode, id)
	}
	if !strings.Contains(string(b), "request ID "+id) {
		t.Fatalf("the error page does not name %s:\n%s", id, b)
	}
	if !strings.Contains(logs.String(), `"request_id":"`+id+`"`) || !strings.Contains(logs.String(), "closed") {
		t.Fatalf("the log does not name %s with the cause:\n%s", id, logs.String())
	}
}
