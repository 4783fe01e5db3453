package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// machinesDataSource lists machines (wirefleet_machines), filtered as
// `machines list` filters: by tag, state, name and OS.
type machinesDataSource struct{ cl *client.Client }

type machinesModel struct {
	Tag      types.String   `tfsdk:"tag"`
	State    types.String   `tfsdk:"state"`
	Name     types.String   `tfsdk:"name"`
	OS       types.String   `tfsdk:"os"`
	Machines []machineModel `tfsdk:"machines"`
}

type machineModel struct {
	ID    types.String `tfsdk:"id"`
	Name  types.String `tfsdk:"name"`
	IPv4  types.String `tfsdk:"ipv4"`
	IPv6  types.String `tfsdk:"ipv6"`
	OS    types.String `tfsdk:"os"`
	State types.String `tfsdk:"state"`
	Tags  types.List   `tfsdk:"tags"`
}

func newMachines() datasource.DataSource { return &machinesDataSource{} }

func (d *machinesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_machines"
}

func (d *machinesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The fleet's machines, filtered.",
		Attributes: map[string]schema.Attribute{
			"tag":   schema.StringAttribute{Optional: true, Description: "Machines with this tag (tag:NAME)."},
			"state": schema.StringAttribute{Optional: true, Description: "active, revoked, online or offline."},
			"name":  schema.StringAttribute{Optional: true, Description: "Machines whose name contains this."},
			"os":    schema.StringAttribute{Optional: true, Description: "linux, windows or darwin."},
			"machines": schema.ListNestedAttribute{Computed: true, NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"id": schema.StringAttribute{Computed: true}, "name": schema.StringAttribute{Computed: true},
				"ipv4": schema.StringAttribute{Computed: true}, "ipv6": schema.StringAttribute{Computed: true},
				"os": schema.StringAttribute{Computed: true}, "state": schema.StringAttribute{Computed: true},
				"tags": schema.ListAttribute{Computed: true, ElementType: types.StringType},
			}}},
		},
	}
}

func (d *machinesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (d *machinesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m machinesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ms, err := d.cl.ListMachines(ctx, client.MachineFilter{State: m.State.ValueString(), Tag: m.Tag.ValueString(), Name: m.Name.ValueString()})
	if err != nil {
		apiError(&resp.Diagnostics, "List the machines", err)
		return
	}
	m.Machines = []machineModel{}
	for _, x := range ms {
		if os := m.OS.ValueString(); os != "" && x.OS != os {
			continue
		}
		mm, err := machineOf(ctx, x)
		if err != nil {
			resp.Diagnostics.AddError("Read the machines", err.Error())
			return
		}
		m.Machines = append(m.Machines, mm)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// machineOf is what the data sources say of a machine.
func machineOf(ctx context.Context, x wire.Machine) (machineModel, error) {
	tags, err := listOf(ctx, x.Tags, types.ListValueMust(types.StringType, nil))
	return machineModel{ID: types.StringValue(x.ID), Name: types.StringValue(x.Name), IPv4: types.StringValue(x.IPv4),
		IPv6: types.StringValue(x.IPv6), OS: types.StringValue(x.OS), State: types.StringValue(x.State), Tags: tags}, err
}
