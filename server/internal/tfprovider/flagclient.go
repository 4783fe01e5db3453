package tfprovider

import (
	"context"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// flagClientResource is an application that reads flags over OFREP
// (wirefleet_flag_client). Its first key is a sensitive attribute, known
// only to the apply that made the client.
type flagClientResource struct{ cl *client.Client }

type flagClientModel struct {
	ID            types.String `tfsdk:"id"`
	Name          types.String `tfsdk:"name"`
	Description   types.String `tfsdk:"description"`
	Kind          types.String `tfsdk:"kind"`
	Team          types.String `tfsdk:"team"`
	Active        types.Bool   `tfsdk:"active"`
	RatePerMinute types.Int64  `tfsdk:"rate_per_minute"`
	Allow         types.List   `tfsdk:"allow"`
	Key           types.String `tfsdk:"key"`
}

func newFlagClient() resource.Resource { return &flagClientResource{} }

func (r *flagClientResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_flag_client"
}

func (r *flagClientResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "An application that evaluates flags over OFREP with its own key (wfc_…).",
		Attributes: map[string]schema.Attribute{
			"id":              schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"name":            schema.StringAttribute{Required: true, PlanModifiers: replace},
			"description":     schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("")},
			"kind":            schema.StringAttribute{Optional: true, Computed: true, Description: "service, ci, function, backend or other.", PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()}},
			"team":            schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(""), Description: "The team whose flags it may read too (empty: the fleet's only).", PlanModifiers: replace},
			"active":          schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
			"rate_per_minute": schema.Int64Attribute{Optional: true, Computed: true, Description: "Evaluation requests a minute (0: the server's default).", PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
			"allow":           schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: "Addresses it may call from (CIDRs; unset: any)."},
			"key":             schema.StringAttribute{Computed: true, Sensitive: true, Description: "Its first key, wfc_… (only from the apply that made it).", PlanModifiers: keep},
		},
	}
}

func (r *flagClientResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (m *flagClientModel) fill(ctx context.Context, c wire.FlagClient) error {
	m.ID, m.Name, m.Description, m.Kind, m.Team = types.StringValue(c.ID), types.StringValue(c.Name), types.StringValue(c.Description), types.StringValue(c.Kind), types.StringValue(c.Team)
	m.Active, m.RatePerMinute = types.BoolValue(c.Active), types.Int64Value(int64(c.RatePerMinute))
	l, err := listOf(ctx, c.Allow, m.Allow)
	m.Allow = l
	return err
}

func (r *flagClientResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m flagClientModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	allow, err := stringsOf(ctx, m.Allow)
	if err != nil {
		resp.Diagnostics.AddError("allow", err.Error())
		return
	}
	out, err := r.cl.CreateFlagClient(ctx, wire.CreateFlagClientRequest{Name: m.Name.ValueString(), Description: m.Description.ValueString(),
		Kind: m.Kind.ValueString(), Team: m.Team.ValueString(), RatePerMinute: int(m.RatePerMinute.ValueInt64()), Allow: allow})
	if err != nil {
		apiError(&resp.Diagnostics, "Create the flag client", err)
		return
	}
	c := out.Client
	if !m.Active.ValueBool() {
		off := false
		if c, err = r.cl.UpdateFlagClient(ctx, c.Name, wire.UpdateFlagClientRequest{Active: &off}); err != nil {
			apiError(&resp.Diagnostics, "Disable the flag client", err)
			return
		}
	}
	if err := m.fill(ctx, c); err != nil {
		resp.Diagnostics.AddError("Read the flag client", err.Error())
		return
	}
	m.Key = types.StringValue(out.Secret)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *flagClientResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m flagClientModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cs, err := r.cl.FlagClients(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Read the flag clients", err)
		return
	}
	i := slices.IndexFunc(cs, func(c wire.FlagClient) bool { return c.Name == m.Name.ValueString() || c.ID == m.ID.ValueString() })
	if i < 0 {
		resp.State.RemoveResource(ctx)
		return
	}
	if err := m.fill(ctx, cs[i]); err != nil {
		resp.Diagnostics.AddError("Read the flag client", err.Error())
		return
	}
	if m.Key.IsNull() || m.Key.IsUnknown() {
		m.Key = types.StringValue("") // imported: its keys were shown elsewhere
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *flagClientResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m flagClientModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	allow, err := stringsOf(ctx, m.Allow)
	if err != nil {
		resp.Diagnostics.AddError("allow", err.Error())
		return
	}
	if allow == nil {
		allow = []string{}
	}
	active, desc, rate := m.Active.ValueBool(), m.Description.ValueString(), int(m.RatePerMinute.ValueInt64())
	upd := wire.UpdateFlagClientRequest{Active: &active, Description: &desc, Allow: &allow}
	if !m.RatePerMinute.IsUnknown() {
		upd.RatePerMinute = &rate
	}
	c, err := r.cl.UpdateFlagClient(ctx, m.Name.ValueString(), upd)
	if err != nil {
		apiError(&resp.Diagnostics, "Change the flag client", err)
		return
	}
	if err := m.fill(ctx, c); err != nil {
		resp.Diagnostics.AddError("Read the flag client", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *flagClientResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m flagClientModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if err := r.cl.DeleteFlagClient(ctx, m.Name.ValueString()); err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Delete the flag client", err)
	}
}

// ImportState takes a client by name (its keys stay unknown).
func (r *flagClientResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
}
