// Package openapi describes the server's HTTP API as an OpenAPI 3.1
// document. The document is built, not written: its operations come from
// Routes (one line per route: method, path, the Go types that travel) and
// its schemas from those types in pkg/wire, by kin-openapi's openapi3gen,
// so a field added to a wire type is in the document at once. Tests in the
// api package hold the routes against the server's router and every
// request and answer of the API test suite against the schemas.
package openapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Security schemes, by the kind of bearer secret they take.
var schemes = map[Auth]string{Machine: "machineCredential", Admin: "adminKey", Owner: "adminKey", SCIM: "scimToken", Client: "flagClientKey", Waiting: "waitingSecret"}

var (
	once   sync.Once
	doc    *openapi3.T
	docErr error
	body   []byte
)

// Document returns the API's description (built once).
func Document() (*openapi3.T, error) {
	once.Do(func() {
		if doc, docErr = build(); docErr == nil {
			body, docErr = json.MarshalIndent(doc, "", "  ")
		}
	})
	return doc, docErr
}

// JSON is the document as served at wire.PathOpenAPI.
func JSON() ([]byte, error) {
	_, err := Document()
	return body, err
}

var (
	codeType    = reflect.TypeFor[wire.Code]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	anyType     = reflect.TypeFor[any]()
	scimResType = reflect.TypeFor[SCIMResource]()
)

// customize adjusts a generated schema: the error code is an enum of
// wire.Codes; raw JSON and SCIM's resources are any JSON; what Go encodes
// as null when empty (nil slices and maps) may be null.
func customize(name string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
	switch {
	case t == codeType:
		s.Enum = nil
		for _, c := range wire.Codes {
			s.Enum = append(s.Enum, string(c))
		}
	case t == rawType || t == anyType:
		*s = openapi3.Schema{Description: s.Description}
	case t == scimResType:
		*s = openapi3.Schema{Type: &openapi3.Types{"object"}, Description: "a SCIM 2.0 resource (RFC 7643)", AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(true)}}
	}
	if s.Nullable || ((t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && t != rawType && name != "_root") {
		s.Nullable = false
		if s.Type != nil && !s.Type.IncludesNull() {
			s.Type = &openapi3.Types{(*s.Type)[0], "null"}
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func build() (*openapi3.T, error) {
	d := &openapi3.T{
		OpenAPI: "3.1.0",
		Info: &openapi3.Info{
			Title:       "Wirefleet API",
			Version:     "1",
			Description: "The server's API: the agents' protocol, the admin API (the CLI, the console and Terraform use it), SCIM 2.0 for identity providers and OFREP for flag clients. Errors are {\"error\": {\"code\", \"message\"}} with a stable code.",
		},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{
				"adminKey":          bearer("an admin API key, wfa_… (an owner's, or a team admin's limited to the team)"),
				"machineCredential": bearer("an enrolled machine's credential, wfm_…"),
				"scimToken":         bearer("a SCIM token, wfs_…"),
				"flagClientKey":     bearer("a flag client's key, wfc_…"),
				"waitingSecret":     bearer("the waiting secret of an interactive enrollment, wfp_…"),
			},
		},
	}
	// Each type that travels is a component, its nested types inline
	// (openapi3gen's own export loses nested components when several
	// roots share them); a slice of one is an array of its component.
	schema := func(v any) (*openapi3.SchemaRef, error) {
		t := reflect.TypeOf(v)
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			items, err := component(d, t.Elem())
			if err != nil {
				return nil, err
			}
			arr := openapi3.NewArraySchema()
			arr.Items = items
			return arr.NewRef(), nil
		}
		return component(d, t)
	}
	errRef, err := schema(wire.ErrorResponse{})
	if err != nil {
		return nil, err
	}
	for _, r := range Routes {
		op := &openapi3.Operation{OperationID: r.ID, Summary: r.Summary, Tags: []string{r.Tag}, Responses: openapi3.NewResponses()}
		if name := schemes[r.Auth]; name != "" {
			op.Security = &openapi3.SecurityRequirements{{name: []string{}}}
		} else {
			op.Security = &openapi3.SecurityRequirements{}
		}
		if r.Auth == Owner {
			op.Description = "Owners only (a team admin's key is refused with forbidden)."
		}
		for _, p := range r.Params {
			typ := p.Type
			if typ == "" {
				typ = "string"
			}
			ps := openapi3.NewSchema()
			ps.Type = &openapi3.Types{typ}
			for _, e := range p.Enum {
				ps.Enum = append(ps.Enum, e)
			}
			op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
				Name: p.Name, In: p.In, Description: p.Doc, Required: p.Required, Schema: ps.NewRef(),
			}})
		}
		if r.Request != nil || r.RequestType != "" {
			mt := r.RequestType
			if mt == "" {
				mt = "application/json"
			}
			var rs *openapi3.SchemaRef
			if r.Request == nil {
				rs = (&openapi3.Schema{Type: &openapi3.Types{"string"}, Format: "binary"}).NewRef()
			} else if rs, err = schema(r.Request); err != nil {
				return nil, err
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(!r.OptionalBody).WithContent(openapi3.NewContentWithSchemaRef(rs, []string{mt}))}
		}
		status := r.Status
		if status == 0 {
			status = http.StatusOK
		}
		answers := map[int]any{status: r.Response}
		for s, v := range r.Also {
			answers[s] = v
		}
		for _, s := range slices.Sorted(maps.Keys(answers)) {
			resp := openapi3.NewResponse().WithDescription(http.StatusText(s))
			switch v := answers[s]; {
			case r.Raw != "" && s == status && r.Raw != "websocket":
				resp.WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{r.Raw}))
			case v != nil:
				rs, err := schema(v)
				if err != nil {
					return nil, err
				}
				mt := "application/json"
				if r.Auth == SCIM {
					mt = scimType
				}
				content := openapi3.NewContentWithSchemaRef(rs, []string{mt})
				if r.AlsoAs != "" && s == status {
					content[r.AlsoAs] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
				}
				resp.WithContent(content)
			}
			op.Responses.Set(strconv.Itoa(s), &openapi3.ResponseRef{Value: resp})
		}
		def := openapi3.NewResponse().WithDescription("an error with a stable code")
		switch r.Auth {
		case SCIM:
			def.WithContent(openapi3.NewContentWithSchema(&openapi3.Schema{Type: &openapi3.Types{"object"}, Description: "a SCIM error (RFC 7644 §3.12)"}, []string{scimType, "application/json"}))
		case Client:
			def.WithContent(openapi3.NewContentWithSchema(&openapi3.Schema{Type: &openapi3.Types{"object"}, Description: "an OFREP error: errorCode, errorDetails"}, []string{"application/json"}))
		default:
			def.WithContent(openapi3.NewContentWithSchemaRef(errRef, []string{"application/json"}))
		}
		op.Responses.Set("default", &openapi3.ResponseRef{Value: def})
		item := d.Paths.Value(r.Path)
		if item == nil {
			item = &openapi3.PathItem{}
			d.Paths.Set(r.Path, item)
		}
		if item.GetOperation(r.Method) != nil {
			return nil, fmt.Errorf("openapi: %s %s is listed twice", r.Method, r.Path)
		}
		item.SetOperation(r.Method, op)
	}
	if err := d.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the document is not valid: %w", err)
	}
	return d, nil
}

// component makes t's schema a component (once) and returns a $ref to it.
func component(d *openapi3.T, t reflect.Type) (*openapi3.SchemaRef, error) {
	name := typeName(t)
	if t.Kind() != reflect.Struct || name == "" {
		ref, err := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customize)).GenerateSchemaRef(t)
		if err != nil {
			return nil, fmt.Errorf("openapi: schema of %s: %w", t, err)
		}
		clean(ref, map[*openapi3.Schema]bool{})
		return openapi3.NewSchemaRef("", ref.Value), nil
	}
	if _, ok := d.Components.Schemas[name]; !ok {
		ref, err := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customize)).GenerateSchemaRef(t)
		if err != nil {
			return nil, fmt.Errorf("openapi: schema of %s: %w", t, err)
		}
		clean(ref, map[*openapi3.Schema]bool{})
		d.Components.Schemas[name] = openapi3.NewSchemaRef("", ref.Value)
	}
	return openapi3.NewSchemaRef("#/components/schemas/"+name, d.Components.Schemas[name].Value), nil
}

// clean drops the Go type names openapi3gen leaves in Ref ("string",
// "Machine"): every nested schema is inline.
func clean(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil {
		return
	}
	ref.Ref = ""
	s := ref.Value
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	for _, p := range s.Properties {
		clean(p, seen)
	}
	clean(s.Items, seen)
	clean(s.AdditionalProperties.Schema, seen)
	for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range l {
			clean(r, seen)
		}
	}
}

func bearer(desc string) *openapi3.SecuritySchemeRef {
	return &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("").WithDescription(desc)}
}

// typeName names a component after its Go type, with the package for
// types outside pkg/wire (release.Manifest → ReleaseManifest).
func typeName(t reflect.Type) string {
	name := t.Name()
	if pkg := t.PkgPath(); !strings.HasSuffix(pkg, "/pkg/wire") && !strings.HasSuffix(pkg, "/openapi") && pkg != "" {
		p := pkg[strings.LastIndexByte(pkg, '/')+1:]
		name = strings.ToUpper(p[:1]) + p[1:] + name
	}
	return name
}
