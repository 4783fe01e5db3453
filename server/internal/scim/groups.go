package scim

import (
	"net/http"
	"strings"

	scimlib "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/wirefleet/wirefleet/server/internal/store"
)

// groups serves /Groups over the directory's groups.
type groups struct{ *handlers }

func (g groups) resource(gr store.Group) scimlib.Resource {
	members := []interface{}{}
	for i, id := range gr.MemberIDs {
		members = append(members, map[string]interface{}{"value": id, "display": gr.Members[i], "type": "User"})
	}
	created, updated := gr.CreatedAt, gr.UpdatedAt
	r := scimlib.Resource{
		ID:         gr.ID,
		Attributes: scimlib.ResourceAttributes{"displayName": gr.Name, "members": members},
		Meta:       scimlib.Meta{Created: &created, LastModified: &updated},
	}
	if gr.ExternalID != "" {
		r.ExternalID = optional.NewString(gr.ExternalID)
	}
	return r
}

// memberIDs reads a members value: a list of {"value": ID} (or one).
func memberIDs(v interface{}) ([]string, error) {
	var list []interface{}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []interface{}:
		list = x
	case map[string]interface{}:
		list = []interface{}{x}
	default:
		return nil, badValue("members must be a list of {\"value\": ID}")
	}
	var out []string
	for _, m := range list {
		mm, _ := m.(map[string]interface{})
		id, _ := mm["value"].(string)
		if id == "" {
			return nil, badValue("a member needs a value (the person's id)")
		}
		out = append(out, id)
	}
	return out, nil
}

func (g groups) Create(r *http.Request, attrs scimlib.ResourceAttributes) (scimlib.Resource, error) {
	in := store.GroupInput{}
	in.Name, _ = attrs["displayName"].(string)
	in.ExternalID, _ = attrs["externalId"].(string)
	ids, err := memberIDs(attrs["members"])
	if err != nil {
		return scimlib.Resource{}, err
	}
	in.Members = ids
	gr, err := g.fl.CreateGroup(r.Context(), actor(r), in)
	if err != nil {
		return scimlib.Resource{}, g.fail(r, err)
	}
	return g.resource(gr), nil
}

func (g groups) Get(r *http.Request, id string) (scimlib.Resource, error) {
	gr, err := g.dir.Group(r.Context(), id)
	if err != nil {
		return scimlib.Resource{}, g.fail(r, err)
	}
	return g.resource(gr), nil
}

// Search answers POST /Groups/.search (RFC 7644 §3.4.3) as GET /Groups.
func (g groups) Search(r *http.Request, params scimlib.SearchParams) (scimlib.Page, error) {
	return g.GetAll(r, scimlib.ListRequestParams{Count: params.Count, StartIndex: params.StartIndex, FilterValidator: params.FilterValidator})
}

func (g groups) GetAll(r *http.Request, params scimlib.ListRequestParams) (scimlib.Page, error) {
	all, err := g.dir.Groups(r.Context())
	if err != nil {
		return scimlib.Page{}, g.fail(r, err)
	}
	res := make([]scimlib.Resource, 0, len(all))
	for _, gr := range all {
		res = append(res, g.resource(gr))
	}
	return listPage(res, params), nil
}

func (g groups) Replace(r *http.Request, id string, attrs scimlib.ResourceAttributes) (scimlib.Resource, error) {
	name, _ := attrs["displayName"].(string)
	ext, _ := attrs["externalId"].(string)
	ids, err := memberIDs(attrs["members"])
	if err != nil {
		return scimlib.Resource{}, err
	}
	if ids == nil {
		ids = []string{}
	}
	gr, err := g.fl.ChangeGroup(r.Context(), actor(r), id, store.GroupChange{Name: &name, ExternalID: &ext, Set: &ids})
	if err != nil {
		return scimlib.Resource{}, g.fail(r, err)
	}
	return g.resource(gr), nil
}

func (g groups) Delete(r *http.Request, id string) error {
	if err := g.fl.DeleteGroup(r.Context(), actor(r), id); err != nil {
		return g.fail(r, err)
	}
	return nil
}

// Patch: add, remove and replace members (a value list, or a path
// filter: members[value eq "ID"]), replace displayName and externalId.
func (g groups) Patch(r *http.Request, id string, ops []scimlib.PatchOperation) (scimlib.Resource, error) {
	var c store.GroupChange
	apply := func(op, attr string, path *filter.Path, v interface{}) error {
		switch strings.ToLower(attr) {
		case "displayname":
			if op == scimlib.PatchOperationRemove {
				return badValue("displayName cannot be removed")
			}
			s, _ := v.(string)
			c.Name = &s
		case "externalid":
			s, _ := v.(string)
			if op == scimlib.PatchOperationRemove {
				s = ""
			}
			c.ExternalID = &s
		case "members":
			ids, err := memberIDs(v)
			if err != nil {
				return err
			}
			if path != nil && path.ValueExpression != nil {
				id, ok := memberFilter(path.ValueExpression)
				if !ok {
					return badValue("members filters name one member: members[value eq \"ID\"]")
				}
				ids = append(ids, id)
			}
			switch op {
			case scimlib.PatchOperationAdd:
				c.Add = append(c.Add, ids...)
			case scimlib.PatchOperationRemove:
				if path != nil && path.ValueExpression == nil && v == nil {
					empty := []string{}
					c.Set, c.Add, c.Remove = &empty, nil, nil // remove every member
					return nil
				}
				c.Remove = append(c.Remove, ids...)
			default:
				set := append([]string{}, ids...)
				c.Set, c.Add, c.Remove = &set, nil, nil
			}
		}
		return nil
	}
	for _, op := range ops {
		if op.Path == nil {
			m, ok := op.Value.(map[string]interface{})
			if !ok {
				return scimlib.Resource{}, badValue("a patch without a path needs an object of attributes")
			}
			for k, v := range m {
				if err := apply(op.Op, k, nil, v); err != nil {
					return scimlib.Resource{}, err
				}
			}
			continue
		}
		if err := apply(op.Op, op.Path.AttributePath.AttributeName, op.Path, op.Value); err != nil {
			return scimlib.Resource{}, err
		}
	}
	gr, err := g.fl.ChangeGroup(r.Context(), actor(r), id, c)
	if err != nil {
		return scimlib.Resource{}, g.fail(r, err)
	}
	return g.resource(gr), nil
}

// memberFilter reads members[value eq "ID"].
func memberFilter(e filter.Expression) (string, bool) {
	ae, ok := e.(*filter.AttributeExpression)
	if !ok || !strings.EqualFold(ae.AttributePath.AttributeName, "value") || ae.Operator != filter.EQ {
		return "", false
	}
	s, ok := ae.CompareValue.(string)
	return s, ok
}
