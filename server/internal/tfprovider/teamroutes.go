package tfprovider

import (
	"context"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// strings reads a list attribute ("" elements kept; null: nil).
func stringsOf(ctx context.Context, l types.List) ([]string, error) {
	if l.IsNull() || l.IsUnknown() {
		return nil, nil
	}
	var out []string
	if d := l.ElementsAs(ctx, &out, false); d.HasError() {
		return nil, diagErr(d)
	}
	return out, nil
}

// listOf makes a list attribute of vs, null when vs is empty and the
// configuration left it out (was is null).
func listOf(ctx context.Context, vs []string, was types.List) (types.List, error) {
	if len(vs) == 0 && was.IsNull() {
		return types.ListNull(types.StringType), nil
	}
	l, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, vs...))
	if d.HasError() {
		return l, diagErr(d)
	}
	return l, nil
}

// teamResource is a team (wirefleet_team): the tags it owns and who
// administers or reads them.
type teamResource struct{ cl *client.Client }

type teamModel struct {
	ID           types.String `tfsdk:"id"`
	Name         types.String `tfsdk:"name"`
	Tags         types.List   `tfsdk:"tags"`
	Admins       types.List   `tfsdk:"admins"`
	Members      types.List   `tfsdk:"members"`
	AdminGroups  types.List   `tfsdk:"admin_groups"`
	MemberGroups types.List   `tfsdk:"member_groups"`
}

func newTeam() resource.Resource { return &teamResource{} }

func (r *teamResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_team"
}

func (r *teamResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	list := func(desc string) schema.ListAttribute {
		return schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "A team: its admins manage the machines, tokens and flags of its tags; its members read them.",
		Attributes: map[string]schema.Attribute{
			"id":            schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name":          schema.StringAttribute{Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"tags":          schema.ListAttribute{Required: true, ElementType: types.StringType, Description: "The tags the team owns (tag:NAME)."},
			"admins":        list("People (accounts) who administer it."),
			"members":       list("People who read it."),
			"admin_groups":  list("Directory groups whose people administer it."),
			"member_groups": list("Directory groups whose people read it."),
		},
	}
}

func (r *teamResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

// tagSpelling gives the server's tags (bare names) the spelling the
// configuration used ("tag:web" or "web"): the same tag is no change.
func tagSpelling(ctx context.Context, server []string, was types.List) []string {
	prev, _ := stringsOf(ctx, was)
	out := make([]string, len(server))
	for i, tag := range server {
		out[i] = tag
		for _, p := range prev {
			if strings.TrimPrefix(p, "tag:") == strings.TrimPrefix(tag, "tag:") {
				out[i] = p
			}
		}
	}
	return out
}

func (m *teamModel) fill(ctx context.Context, t wire.Team) (err error) {
	m.ID, m.Name = types.StringValue(t.Name), types.StringValue(t.Name)
	t.Tags = tagSpelling(ctx, t.Tags, m.Tags)
	for _, f := range []struct {
		dst *types.List
		vs  []string
	}{{&m.Tags, t.Tags}, {&m.Admins, t.Admins}, {&m.Members, t.Members}, {&m.AdminGroups, t.AdminGroups}, {&m.MemberGroups, t.MemberGroups}} {
		if *f.dst, err = listOf(ctx, f.vs, *f.dst); err != nil {
			return err
		}
	}
	return nil
}

func (r *teamResource) put(ctx context.Context, m *teamModel) error {
	var req wire.PutTeamRequest
	for _, f := range []struct {
		dst *[]string
		l   types.List
	}{{&req.Tags, m.Tags}, {&req.Admins, m.Admins}, {&req.Members, m.Members}, {&req.AdminGroups, m.AdminGroups}, {&req.MemberGroups, m.MemberGroups}} {
		vs, err := stringsOf(ctx, f.l)
		if err != nil {
			return err
		}
		*f.dst = vs
	}
	t, err := r.cl.PutTeam(ctx, m.Name.ValueString(), req)
	if err != nil {
		return err
	}
	return m.fill(ctx, t)
}

// save puts the planned team (a PUT replaces it) and records it.
func (r *teamResource) save(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, d *diag.Diagnostics) {
	var m teamModel
	d.Append(plan.Get(ctx, &m)...)
	if d.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		apiError(d, "Save the team", err)
		return
	}
	d.Append(state.Set(ctx, &m)...)
}

func (r *teamResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *teamResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m teamModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ts, err := r.cl.Teams(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Read the teams", err)
		return
	}
	i := slices.IndexFunc(ts, func(t wire.Team) bool { return t.Name == m.ID.ValueString() })
	if i < 0 {
		resp.State.RemoveResource(ctx)
		return
	}
	if err := m.fill(ctx, ts[i]); err != nil {
		resp.Diagnostics.AddError("Read the team", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *teamResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *teamResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m teamModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if err := r.cl.DeleteTeam(ctx, m.Name.ValueString()); err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Delete the team", err)
	}
}

// ImportState takes a team by name.
func (r *teamResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}

// routeApprovalResource approves a machine's advertised routes and exit
// node (wirefleet_route_approval); destroying it rejects them.
type routeApprovalResource struct{ cl *client.Client }

type routeApprovalModel struct {
	ID       types.String `tfsdk:"id"`
	Machine  types.String `tfsdk:"machine"`
	Routes   types.List   `tfsdk:"routes"`
	ExitNode types.Bool   `tfsdk:"exit_node"`
}

func newRouteApproval() resource.Resource { return &routeApprovalResource{} }

func (r *routeApprovalResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_route_approval"
}

func (r *routeApprovalResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Approves subnet routes and exit-node use a machine advertises. Destroying it rejects them.",
		Attributes: map[string]schema.Attribute{
			"id":        schema.StringAttribute{Computed: true, Description: "The machine's ID.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"machine":   schema.StringAttribute{Required: true, Description: "The machine's ID or name.", PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"routes":    schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: "Advertised prefixes to approve, e.g. 10.1.0.0/24."},
			"exit_node": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), Description: "Approve it as an exit node."},
		},
	}
}

func (r *routeApprovalResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

// exitRoutes are what an approved exit node carries.
var exitRoutes = []string{"0.0.0.0/0", "::/0"}

func (r *routeApprovalResource) decide(ctx context.Context, machine string, m routeApprovalModel, approve bool) (wire.Machine, error) {
	routes, err := stringsOf(ctx, m.Routes)
	if err != nil {
		return wire.Machine{}, err
	}
	return r.cl.DecideRoutes(ctx, machine, wire.RouteDecision{Routes: routes, ExitNode: m.ExitNode.ValueBool()}, approve)
}

// fill keeps, of the routes the state says are approved, those that still
// are: one rejected elsewhere drops out, and the plan approves it again.
func (m *routeApprovalModel) fill(ctx context.Context, x wire.Machine) error {
	var approved []string
	if x.Routes != nil {
		approved = x.Routes.Approved
	}
	want, err := stringsOf(ctx, m.Routes)
	if err != nil {
		return err
	}
	keep := slices.DeleteFunc(slices.Clone(want), func(p string) bool { return !slices.Contains(approved, p) })
	if m.Routes, err = listOf(ctx, keep, m.Routes); err != nil {
		return err
	}
	m.ID = types.StringValue(x.ID)
	m.ExitNode = types.BoolValue(slices.Contains(approved, exitRoutes[0]))
	return nil
}

func (r *routeApprovalResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m routeApprovalModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := r.decide(ctx, m.Machine.ValueString(), m, true)
	if err != nil {
		apiError(&resp.Diagnostics, "Approve the routes", err)
		return
	}
	m.ID = types.StringValue(x.ID)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routeApprovalResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m routeApprovalModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := r.cl.Machine(ctx, m.ID.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Read the machine's routes", err)
		return
	}
	if m.Machine.IsNull() { // imported: everything approved now is managed
		m.Machine = types.StringValue(x.ID)
		if x.Routes != nil {
			own := slices.DeleteFunc(slices.Clone(x.Routes.Approved), func(p string) bool { return slices.Contains(exitRoutes, p) })
			l, err := listOf(ctx, own, types.ListNull(types.StringType))
			if err != nil {
				resp.Diagnostics.AddError("Read the machine's routes", err.Error())
				return
			}
			m.Routes = l
		}
	}
	if err := m.fill(ctx, x); err != nil {
		resp.Diagnostics.AddError("Read the machine's routes", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routeApprovalResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, state routeApprovalModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Reject what is no longer wanted, then approve what is.
	old, _ := stringsOf(ctx, state.Routes)
	now, _ := stringsOf(ctx, m.Routes)
	gone := slices.DeleteFunc(slices.Clone(old), func(p string) bool { return slices.Contains(now, p) })
	if len(gone) > 0 || (state.ExitNode.ValueBool() && !m.ExitNode.ValueBool()) {
		l, _ := listOf(ctx, gone, types.ListNull(types.StringType))
		drop := routeApprovalModel{Routes: l, ExitNode: types.BoolValue(state.ExitNode.ValueBool() && !m.ExitNode.ValueBool())}
		if _, err := r.decide(ctx, state.ID.ValueString(), drop, false); err != nil {
			apiError(&resp.Diagnostics, "Reject the routes no longer approved", err)
			return
		}
	}
	if _, err := r.decide(ctx, state.ID.ValueString(), m, true); err != nil {
		apiError(&resp.Diagnostics, "Approve the routes", err)
		return
	}
	m.ID = state.ID
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routeApprovalResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m routeApprovalModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if _, err := r.decide(ctx, m.ID.ValueString(), m, false); err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Reject the routes", err)
	}
}

// ImportState takes a machine's approvals by its ID or name.
func (r *routeApprovalResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	x, err := r.cl.Machine(ctx, req.ID)
	if err != nil {
		apiError(&resp.Diagnostics, "Import the machine's routes", err)
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), x.ID)...)
}
