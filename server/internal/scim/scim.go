// Package scim serves SCIM 2.0 (RFC 7643, RFC 7644) so that an identity
// provider — Okta, Entra ID, Authentik, Keycloak — provisions and
// deprovisions the fleet's people and groups without anyone signing in.
//
// It is an adapter, like the API and the console: the protocol (routing,
// schemas, filters, PATCH validation, list responses, errors) is
// github.com/elimity-com/scim's, every change goes through the fleet
// service (one transaction, one audit event, maps answered before the
// response), and reads come from the store.
//
// What it maps: a SCIM User is an account (its userName is the account's
// name — the e-mail address single sign-on signs in with — and active
// false deprovisions it); a SCIM Group is a directory group, which the
// policy names as "directory:DISPLAYNAME". Accounts with a password (the
// break-glass admins made with `wirefleet-server admin create`) are not
// the directory's: SCIM neither lists nor changes them.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	scimlib "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// MaxBody bounds a SCIM request's body: a group of 5,000 members is about
// 300 KB.
const MaxBody = 2 << 20

// Directory is what the adapter reads: people and groups.
type Directory interface {
	People(ctx context.Context) ([]store.Person, error)
	Person(ctx context.Context, id string) (store.Person, error)
	Groups(ctx context.Context) ([]store.Group, error)
	Group(ctx context.Context, id string) (store.Group, error)
}

type ctxKey struct{}

// WithActor records who provisions (the SCIM token, the source address)
// for the audit events of the request.
func WithActor(ctx context.Context, a fleet.Actor) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

func actor(r *http.Request) fleet.Actor {
	a, _ := r.Context().Value(ctxKey{}).(fleet.Actor)
	return a
}

// New returns the SCIM service, to be mounted at wire.PathSCIM behind
// authentication (WithActor).
func New(fl *fleet.Service, dir Directory, log *slog.Logger) (http.Handler, error) {
	h := &handlers{fl: fl, dir: dir, log: log}
	srv, err := scimlib.NewServer(&scimlib.ServerArgs{
		ServiceProviderConfig: &scimlib.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/wirefleet/wirefleet#directory-scim-and-groups"),
			AuthenticationSchemes: []scimlib.AuthenticationScheme{{
				Type: scimlib.AuthenticationTypeOauthBearerToken, Name: "SCIM token",
				Description: "A token from `wirefleet-server scim tokens create` in Authorization: Bearer wfs_…", Primary: true,
			}},
			MaxResults:       200,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scimlib.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("People of the fleet"),
				Schema: schema.CoreUserSchema(), Handler: users{h}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Directory groups (directory:NAME in the policy)"),
				Schema: schema.CoreGroupSchema(), Handler: groups{h}},
		},
	}, scimlib.WithLogger(slogAdapter{log}))
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	return guard(http.StripPrefix(strings.TrimSuffix(wire.PathSCIM, "/v2"), srv)), nil
}

// guard reads the body first: bounded (413), and refused when a key
// repeats in one object (the library's decoder would keep the last one
// silently).
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
			data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
			if err != nil {
				writeError(w, scimerr.ScimErrorBadRequest("could not read the request body"))
				return
			}
			if len(data) > MaxBody {
				writeError(w, scimerr.ScimError{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is larger than %d bytes", MaxBody)})
				return
			}
			if err := jsonkeys.Check(data, nil); err != nil {
				e := scimerr.ScimErrorInvalidSyntax
				e.Detail = err.Error()
				writeError(w, e)
				return
			}
			if r.Method == http.MethodPatch {
				data = entraBooleans(data)
			}
			r.Body = io.NopCloser(bytes.NewReader(data))
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, e scimerr.ScimError) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","scimType":%q,"detail":%q}`, e.Status, e.ScimType, e.Detail)
}

type handlers struct {
	fl  *fleet.Service
	dir Directory
	log *slog.Logger
}

// fail turns our errors into SCIM's: not found 404, a taken name 409
// (uniqueness), bad input 400 (invalidValue); anything else is logged and
// answered 500 without its text.
func (h *handlers) fail(r *http.Request, err error) error {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	if errors.Is(err, store.ErrNotFound) {
		return scimerr.ScimError{Status: http.StatusNotFound, Detail: "no such resource"}
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.CodeConflict:
			e := scimerr.ScimErrorUniqueness
			e.Detail = we.Message
			return e
		case wire.CodeNotFound:
			return scimerr.ScimError{Status: http.StatusNotFound, Detail: we.Message}
		}
		e := scimerr.ScimErrorInvalidValue
		e.Detail = we.Message
		return e
	}
	h.log.Error("scim: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return scimerr.ScimErrorInternal
}

// slogAdapter gives the library our logger.
type slogAdapter struct{ log *slog.Logger }

func (l slogAdapter) Error(args ...interface{}) {
	l.log.Error("scim library", "detail", fmt.Sprint(args...))
}

func badValue(format string, args ...any) error {
	e := scimerr.ScimErrorInvalidValue
	e.Detail = fmt.Sprintf(format, args...)
	return e
}

// listPage filters resources as the request's filter says (the library
// evaluates it on the resource as a client sees it) and cuts the page:
// startIndex is 1-based, count bounded by the library (MaxResults).
func listPage(all []scimlib.Resource, params scimlib.ListRequestParams) scimlib.Page {
	matched := []scimlib.Resource{}
	for _, res := range all {
		if params.FilterValidator != nil {
			full := map[string]interface{}(res.Attributes)
			full["id"] = res.ID
			if res.ExternalID.Present() {
				full["externalId"] = res.ExternalID.Value()
			}
			if params.FilterValidator.PassesFilter(full) != nil {
				continue
			}
		}
		matched = append(matched, res)
	}
	start := max(params.StartIndex, 1)
	from := min(start-1, len(matched))
	to := min(from+max(params.Count, 0), len(matched))
	return scimlib.Page{TotalResults: len(matched), Resources: matched[from:to]}
}

// entraBooleans rewrites "active": "True"/"False" in a PATCH's operations
// as JSON booleans: Entra ID sends them as strings (Microsoft's documented
// non-compliance), which the schema validation would refuse. Anything
// else, and a body that is not a patch, passes unchanged.
func entraBooleans(data []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(data, &doc) != nil {
		return data
	}
	ops, _ := doc["Operations"].([]any)
	changed := false
	fix := func(v any) (any, bool) {
		if s, ok := v.(string); ok {
			switch strings.ToLower(s) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
		return v, false
	}
	for _, o := range ops {
		op, _ := o.(map[string]any)
		if op == nil {
			continue
		}
		if path, _ := op["path"].(string); strings.EqualFold(path, "active") {
			if v, ok := fix(op["value"]); ok {
				op["value"], changed = v, true
			}
		}
		if m, _ := op["value"].(map[string]any); m != nil {
			for k, v := range m {
				if strings.EqualFold(k, "active") {
					if b, ok := fix(v); ok {
						m[k], changed = b, true
					}
				}
			}
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return data
	}
	return out
}
