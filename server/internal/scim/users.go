package scim

import (
	"net/http"
	"strings"

	scimlib "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"

	"github.com/wirefleet/wirefleet/server/internal/store"
)

// users serves /Users over the directory's people.
type users struct{ *handlers }

func (u users) resource(p store.Person, groupIDs map[string]string) scimlib.Resource {
	attrs := scimlib.ResourceAttributes{
		"userName": p.Name,
		"active":   !p.Deactivated,
	}
	if p.DisplayName != "" {
		attrs["displayName"] = p.DisplayName
		attrs["name"] = map[string]interface{}{"formatted": p.DisplayName}
	}
	if strings.Contains(p.Name, "@") {
		attrs["emails"] = []interface{}{map[string]interface{}{"value": p.Name, "primary": true}}
	}
	if len(p.Groups) > 0 {
		var gs []interface{}
		for _, g := range p.Groups {
			gs = append(gs, map[string]interface{}{"value": groupIDs[g], "display": g})
		}
		attrs["groups"] = gs
	}
	created, updated := p.CreatedAt, p.UpdatedAt
	r := scimlib.Resource{ID: p.ID, Attributes: attrs, Meta: scimlib.Meta{Created: &created, LastModified: &updated}}
	if p.ExternalID != "" {
		r.ExternalID = optional.NewString(p.ExternalID)
	}
	return r
}

// groupIDs maps the directory's group names to their IDs (a person's
// groups are stored by name).
func (u users) groupIDs(r *http.Request) (map[string]string, error) {
	gs, err := u.dir.Groups(r.Context())
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(gs))
	for _, g := range gs {
		out[g.Name] = g.ID
	}
	return out, nil
}

// person returns a person the directory may see (not a local account).
func (u users) person(r *http.Request, id string) (store.Person, error) {
	p, err := u.dir.Person(r.Context(), id)
	if err == nil && p.Local {
		err = store.ErrNotFound
	}
	return p, err
}

func (u users) respond(r *http.Request, p store.Person) (scimlib.Resource, error) {
	ids, err := u.groupIDs(r)
	if err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	return u.resource(p, ids), nil
}

func (u users) Create(r *http.Request, attrs scimlib.ResourceAttributes) (scimlib.Resource, error) {
	in := store.PersonInput{Active: true}
	in.UserName, _ = attrs["userName"].(string)
	in.DisplayName = displayName(attrs)
	in.ExternalID, _ = attrs["externalId"].(string)
	if v, ok := attrs["active"]; ok {
		b, err := boolOf(v)
		if err != nil {
			return scimlib.Resource{}, err
		}
		in.Active = b
	}
	p, err := u.fl.CreatePerson(r.Context(), actor(r), in)
	if err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	return u.respond(r, p)
}

// displayName is displayName, else name.formatted, else given and family
// names joined.
func displayName(attrs scimlib.ResourceAttributes) string {
	if s, _ := attrs["displayName"].(string); s != "" {
		return s
	}
	n, _ := attrs["name"].(map[string]interface{})
	if s, _ := n["formatted"].(string); s != "" {
		return s
	}
	given, _ := n["givenName"].(string)
	family, _ := n["familyName"].(string)
	return strings.TrimSpace(given + " " + family)
}

// boolOf reads a boolean; Entra ID sends "True" and "False" as strings.
func boolOf(v interface{}) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, badValue("active must be true or false, not %v", v)
}

func (u users) Get(r *http.Request, id string) (scimlib.Resource, error) {
	p, err := u.person(r, id)
	if err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	return u.respond(r, p)
}

// Search answers POST /Users/.search (RFC 7644 §3.4.3) as GET /Users.
func (u users) Search(r *http.Request, params scimlib.SearchParams) (scimlib.Page, error) {
	return u.GetAll(r, scimlib.ListRequestParams{Count: params.Count, StartIndex: params.StartIndex, FilterValidator: params.FilterValidator})
}

func (u users) GetAll(r *http.Request, params scimlib.ListRequestParams) (scimlib.Page, error) {
	people, err := u.dir.People(r.Context())
	if err != nil {
		return scimlib.Page{}, u.fail(r, err)
	}
	ids, err := u.groupIDs(r)
	if err != nil {
		return scimlib.Page{}, u.fail(r, err)
	}
	var all []scimlib.Resource
	for _, p := range people {
		if !p.Local {
			all = append(all, u.resource(p, ids))
		}
	}
	return listPage(all, params), nil
}

func (u users) Replace(r *http.Request, id string, attrs scimlib.ResourceAttributes) (scimlib.Resource, error) {
	if _, err := u.person(r, id); err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	name, _ := attrs["userName"].(string)
	display := displayName(attrs)
	ext, _ := attrs["externalId"].(string)
	active := true
	if v, ok := attrs["active"]; ok {
		b, err := boolOf(v)
		if err != nil {
			return scimlib.Resource{}, err
		}
		active = b
	}
	p, err := u.fl.ChangePerson(r.Context(), actor(r), id, store.PersonChange{UserName: &name, DisplayName: &display, ExternalID: &ext, Active: &active})
	if err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	return u.respond(r, p)
}

func (u users) Delete(r *http.Request, id string) error {
	if _, err := u.person(r, id); err != nil {
		return u.fail(r, err)
	}
	if err := u.fl.DeletePerson(r.Context(), actor(r), id); err != nil {
		return u.fail(r, err)
	}
	return nil
}

// Patch applies add/replace/remove of userName, displayName, name,
// externalId and active — with a path, or without one and an object of
// attributes (Okta's and Entra ID's two shapes).
func (u users) Patch(r *http.Request, id string, ops []scimlib.PatchOperation) (scimlib.Resource, error) {
	if _, err := u.person(r, id); err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	var c store.PersonChange
	set := func(attr string, v interface{}, remove bool) error {
		str := func() *string {
			s, _ := v.(string)
			if remove {
				s = ""
			}
			return &s
		}
		switch strings.ToLower(attr) {
		case "username":
			if remove {
				return badValue("userName cannot be removed")
			}
			c.UserName = str()
		case "displayname", "name.formatted":
			c.DisplayName = str()
		case "name":
			m, _ := v.(map[string]interface{})
			s := displayName(scimlib.ResourceAttributes{"name": m})
			if remove {
				s = ""
			}
			c.DisplayName = &s
		case "externalid":
			c.ExternalID = str()
		case "active":
			b := false
			if !remove {
				var err error
				if b, err = boolOf(v); err != nil {
					return err
				}
			}
			c.Active = &b
		}
		// Other attributes (emails, phone numbers, …) are not kept here.
		return nil
	}
	for _, op := range ops {
		remove := op.Op == scimlib.PatchOperationRemove
		if op.Path == nil {
			m, ok := op.Value.(map[string]interface{})
			if !ok {
				return scimlib.Resource{}, badValue("a patch without a path needs an object of attributes")
			}
			for k, v := range m {
				if err := set(k, v, remove); err != nil {
					return scimlib.Resource{}, err
				}
			}
			continue
		}
		attr := op.Path.AttributePath.AttributeName
		if sub := op.Path.AttributePath.SubAttribute; sub != nil {
			attr += "." + *sub
		}
		if err := set(attr, op.Value, remove); err != nil {
			return scimlib.Resource{}, err
		}
	}
	p, err := u.fl.ChangePerson(r.Context(), actor(r), id, c)
	if err != nil {
		return scimlib.Resource{}, u.fail(r, err)
	}
	return u.respond(r, p)
}
