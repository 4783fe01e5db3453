package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/openapi"
)

// TestDocumentMatchesTheRouter: every pattern the server serves is an
// operation of the OpenAPI document, and every operation is served (the
// SCIM operations under the prefix the SCIM library serves).
func TestDocumentMatchesTheRouter(t *testing.T) {
	e := newEnv(t, Config{})
	doc, err := openapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var prefixes []string
	served := map[string]bool{}
	for _, p := range e.api.Patterns() {
		if strings.HasSuffix(p, "/") && !strings.Contains(p, " ") {
			prefixes = append(prefixes, p) // a catch-all: "/api/", "/scim/v2/", "/ofrep/"
			continue
		}
		served[p] = true
		if !documented[p] {
			t.Errorf("%s is served but not in the OpenAPI document (add it to openapi.Routes)", p)
		}
	}
	for op := range documented {
		if served[op] {
			continue
		}
		path := op[strings.IndexByte(op, ' ')+1:]
		if !strings.HasPrefix(path, wire.PathSCIM+"/") || !slices.Contains(prefixes, wire.PathSCIM+"/") {
			t.Errorf("%s is in the OpenAPI document but not served", op)
		}
	}
	resp, err := http.Get(e.url + wire.PathOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want, _ := openapi.JSON(); resp.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Errorf("GET %s: %d, %d bytes", wire.PathOpenAPI, resp.StatusCode, len(b))
	}
}

// docCheck validates the requests and answers of an API test suite's
// server against the OpenAPI document (kin-openapi's openapi3filter): a
// request the server accepts must be one the document allows, and every
// answer must be one the document describes. What it finds is reported
// when the test ends, each once.
type docCheck struct {
	router routers.Router
	mu     sync.Mutex
	found  map[string]bool
}

func newDocCheck(t testing.TB) *docCheck {
	c := makeDocCheck(t)
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		var all []string
		for f := range c.found {
			all = append(all, f)
		}
		sort.Strings(all)
		for _, f := range all {
			t.Errorf("OpenAPI: %s", f)
		}
	})
	return c
}

var registerCast sync.Once

func makeDocCheck(t testing.TB) *docCheck {
	// SSH recordings travel as asciinema casts: text, checked as a file.
	registerCast.Do(func() { openapi3filter.RegisterBodyDecoder("application/x-asciicast", openapi3filter.FileBodyDecoder) })
	doc, err := openapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &docCheck{router: r, found: map[string]bool{}}
}

// TestDocCheckCatchesWhatTheDocumentRefuses: the check is not a rubber
// stamp — a machine answered with a number for its ID, and a change of
// tags given as a number that a careless server took, are both reported.
func TestDocCheckCatchesWhatTheDocumentRefuses(t *testing.T) {
	c := makeDocCheck(t)
	srv := httptest.NewServer(c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id": 5, "name": "m1"}`)
	})))
	defer srv.Close()
	http.Get(srv.URL + wire.PathMachines + "/m1")
	req, _ := http.NewRequest("PATCH", srv.URL+wire.PathMachines+"/m1", strings.NewReader(`{"tags": 5}`))
	req.Header.Set("Content-Type", "application/json")
	http.DefaultClient.Do(req)
	var got []string
	for f := range c.found {
		got = append(got, f)
	}
	sort.Strings(got)
	if len(got) != 3 ||
		!strings.Contains(got[0], "GET /api/v1/machines/{id}: answer 200 does not match") ||
		!strings.Contains(got[1], "PATCH /api/v1/machines/{id}: answer 200 does not match") ||
		!strings.Contains(got[2], "PATCH /api/v1/machines/{id}: the server took (200) a request the document refuses") {
		t.Errorf("found %q", got)
	}
}

func (c *docCheck) report(format string, args ...any) {
	c.mu.Lock()
	c.found[fmt.Sprintf(format, args...)] = true
	c.mu.Unlock()
}

func (c *docCheck) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := c.router.FindRoute(r)
		if err != nil || route.Operation == nil || r.Header.Get("Upgrade") != "" {
			h.ServeHTTP(w, r) // not described (the router test covers that) or a WebSocket
			return
		}
		op := r.Method + " " + route.Path
		var reqBody []byte
		if r.Body != nil {
			reqBody, _ = io.ReadAll(io.LimitReader(r.Body, 8<<20))
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		in := &openapi3filter.RequestValidationInput{
			Request: r.Clone(context.Background()), PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		}
		body := reqBody
		if r.Header.Get("Content-Encoding") == "gzip" { // agents gzip their flow reports
			if zr, err := gzip.NewReader(bytes.NewReader(reqBody)); err == nil {
				body, _ = io.ReadAll(zr)
			}
			in.Request.Header.Del("Content-Encoding")
		}
		if len(body) > 0 && in.Request.Header.Get("Content-Type") == "" && route.Operation.RequestBody != nil {
			// The server reads a body whatever its declared type (SCIM
			// clients, OpenFeature SDKs that leave it out): check the body.
			for mt := range route.Operation.RequestBody.Value.Content {
				in.Request.Header.Set("Content-Type", mt)
				break
			}
		}
		in.Request.Body = io.NopCloser(bytes.NewReader(body))
		reqErr := openapi3filter.ValidateRequest(context.Background(), in)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if reqErr != nil && rec.status < 400 {
			c.report("%s: the server took (%d) a request the document refuses: %v", op, rec.status, firstLine(reqErr))
		}
		if rec.hijacked {
			return
		}
		if rec.status == http.StatusNotModified || rec.status == http.StatusSwitchingProtocols {
			if route.Operation.Responses.Status(rec.status) == nil {
				c.report("%s: answered %d, which the document does not list", op, rec.status)
			}
			return
		}
		in.Options = &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
		err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: rec.status, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options: in.Options,
		})
		if err != nil {
			c.report("%s: answer %d does not match the document: %v", op, rec.status, firstLine(err))
		}
	})
}

func firstLine(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 0 {
		err = me[0]
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

// recorder passes an answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	wrote    bool
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len() < 8<<20 {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.hijacked = true
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
