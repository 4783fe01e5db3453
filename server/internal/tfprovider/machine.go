package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// machineResource adopts an enrolled machine (wirefleet_machine) to
// manage its name, tags, version pin and owner. Machines join by
// enrolling, never through Terraform: creating the resource takes the
// machine over, destroying it lets go (the machine stays enrolled).
type machineResource struct{ cl *client.Client }

type machineResModel struct {
	ID            types.String `tfsdk:"id"`
	Machine       types.String `tfsdk:"machine"`
	Name          types.String `tfsdk:"name"`
	Tags          types.List   `tfsdk:"tags"`
	PinnedVersion types.String `tfsdk:"pinned_version"`
	Owner         types.String `tfsdk:"owner"`
	IPv4          types.String `tfsdk:"ipv4"`
	IPv6          types.String `tfsdk:"ipv6"`
	OS            types.String `tfsdk:"os"`
	State         types.String `tfsdk:"state"`
}

func newMachine() resource.Resource { return &machineResource{} }

func (r *machineResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_machine"
}

func (r *machineResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "An enrolled machine taken over to manage its name, tags, version pin and owner. It never creates a machine (machines enroll); destroying it stops managing the machine, which stays enrolled.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The machine's ID.", PlanModifiers: keep},
			"machine": schema.StringAttribute{Required: true, Description: "The machine to adopt: its ID, or its name at adoption. Changing it adopts another machine only if it names another one (a name given up by a rename is no change).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIf(r.namesAnother, "adopts another machine when it names one", "adopts another machine when it names one")}},
			"name":           schema.StringAttribute{Optional: true, Computed: true, Description: "Its name (unset: left as it is).", PlanModifiers: keep},
			"tags":           schema.ListAttribute{Optional: true, Computed: true, ElementType: types.StringType, Description: "Its tags (tag:NAME; unset: left as they are)."},
			"pinned_version": schema.StringAttribute{Optional: true, Computed: true, Description: `A published agent version it is held at ("": follow its channel).`, PlanModifiers: keep},
			"owner":          schema.StringAttribute{Optional: true, Computed: true, Description: `The person whose machine it is ("": none).`, PlanModifiers: keep},
			"ipv4":           schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"ipv6":           schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"os":             schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"state":          schema.StringAttribute{Computed: true, PlanModifiers: keep},
		},
	}
}

// namesAnother replaces the resource when the configured machine is a
// different machine from the one adopted.
func (r *machineResource) namesAnother(ctx context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
	var id types.String
	if r.cl == nil || req.State.Raw.IsNull() || req.State.GetAttribute(ctx, path.Root("id"), &id).HasError() {
		return
	}
	x, err := r.cl.Machine(ctx, req.PlanValue.ValueString())
	resp.RequiresReplace = err == nil && x.ID != id.ValueString()
}

func (r *machineResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

// fill sets the model from the server's machine.
func (m *machineResModel) fill(ctx context.Context, x wire.Machine) error {
	tags, err := listOf(ctx, x.Tags, types.ListValueMust(types.StringType, nil))
	if err != nil {
		return err
	}
	m.ID, m.Name, m.Tags = types.StringValue(x.ID), types.StringValue(x.Name), tags
	m.PinnedVersion, m.Owner = types.StringValue(x.PinnedVersion), types.StringValue(x.Owner)
	m.IPv4, m.IPv6, m.OS, m.State = types.StringValue(x.IPv4), types.StringValue(x.IPv6), types.StringValue(x.OS), types.StringValue(x.State)
	return nil
}

// update sends what the plan sets (unknown: left as it is).
func (r *machineResource) update(ctx context.Context, id string, m machineResModel) (wire.Machine, error) {
	var req wire.UpdateMachineRequest
	set := func(v types.String) *string {
		if v.IsNull() || v.IsUnknown() {
			return nil
		}
		s := v.ValueString()
		return &s
	}
	req.Name, req.PinnedVersion, req.Owner = set(m.Name), set(m.PinnedVersion), set(m.Owner)
	if !m.Tags.IsNull() && !m.Tags.IsUnknown() {
		tags, err := stringsOf(ctx, m.Tags)
		if err != nil {
			return wire.Machine{}, err
		}
		if tags == nil {
			tags = []string{} // an empty list clears the tags
		}
		req.Tags = &tags
	}
	if req == (wire.UpdateMachineRequest{}) {
		return r.cl.Machine(ctx, id)
	}
	return r.cl.UpdateMachine(ctx, id, req)
}

func (r *machineResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m machineResModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := r.cl.Machine(ctx, m.Machine.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Adopt the machine "+m.Machine.ValueString()+" (it must have enrolled)", err)
		return
	}
	if x, err = r.update(ctx, x.ID, m); err != nil {
		apiError(&resp.Diagnostics, "Change the machine", err)
		return
	}
	if err := m.fill(ctx, x); err != nil {
		resp.Diagnostics.AddError("Read the machine", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *machineResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m machineResModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := r.cl.Machine(ctx, m.ID.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx) // deleted: nothing to manage
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Read the machine", err)
		return
	}
	if m.Machine.IsNull() { // imported
		m.Machine = types.StringValue(x.ID)
	}
	if err := m.fill(ctx, x); err != nil {
		resp.Diagnostics.AddError("Read the machine", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *machineResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, state machineResModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := r.update(ctx, state.ID.ValueString(), m)
	if err != nil {
		apiError(&resp.Diagnostics, "Change the machine", err)
		return
	}
	m.ID = state.ID
	if err := m.fill(ctx, x); err != nil {
		resp.Diagnostics.AddError("Read the machine", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete lets the machine go: it stays enrolled as it is.
func (r *machineResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// ImportState takes a machine by ID or name.
func (r *machineResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	x, err := r.cl.Machine(ctx, req.ID)
	if err != nil {
		apiError(&resp.Diagnostics, "Import the machine "+req.ID, err)
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), x.ID)...)
}

// machineDataSource reads one machine by ID or name (wirefleet_machine).
type machineDataSource struct{ cl *client.Client }

type machineDataModel struct {
	Machine types.String `tfsdk:"machine"`
	machineModel
}

func newMachineData() datasource.DataSource { return &machineDataSource{} }

func (d *machineDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_machine"
}

func (d *machineDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = dschema.Schema{
		Description: "One machine, by ID or name.",
		Attributes: map[string]dschema.Attribute{
			"machine": dschema.StringAttribute{Required: true, Description: "The machine's ID or name."},
			"id":      dschema.StringAttribute{Computed: true}, "name": dschema.StringAttribute{Computed: true},
			"ipv4": dschema.StringAttribute{Computed: true}, "ipv6": dschema.StringAttribute{Computed: true},
			"os": dschema.StringAttribute{Computed: true}, "state": dschema.StringAttribute{Computed: true},
			"tags": dschema.ListAttribute{Computed: true, ElementType: types.StringType},
		},
	}
}

func (d *machineDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (d *machineDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m machineDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	x, err := d.cl.Machine(ctx, m.Machine.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Read the machine "+m.Machine.ValueString(), err)
		return
	}
	if m.machineModel, err = machineOf(ctx, x); err != nil {
		resp.Diagnostics.AddError("Read the machine", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
