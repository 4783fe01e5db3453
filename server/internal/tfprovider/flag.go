package tfprovider

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// flagResource is a feature flag (wirefleet_flag). Its default value and
// rules are JSON, compared by meaning: the server's spelling of the same
// JSON is no change.
type flagResource struct{ cl *client.Client }

type flagModel struct {
	Key         types.String `tfsdk:"key"`
	Type        types.String `tfsdk:"type"`
	Enabled     types.Bool   `tfsdk:"enabled"`
	Default     types.String `tfsdk:"default"`
	Rules       types.String `tfsdk:"rules"`
	Description types.String `tfsdk:"description"`
	Team        types.String `tfsdk:"team"`
	Version     types.Int64  `tfsdk:"version"`
}

func newFlag() resource.Resource { return &flagResource{} }

func (r *flagResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_flag"
}

func (r *flagResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A feature flag agents and flag clients evaluate (OFREP).",
		Attributes: map[string]schema.Attribute{
			"key":         schema.StringAttribute{Required: true, Description: "The flag's key.", PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"type":        schema.StringAttribute{Required: true, Description: "boolean, string, number or object."},
			"enabled":     schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), Description: "Whether it is evaluated (off: every machine gets the default)."},
			"default":     schema.StringAttribute{Required: true, Description: "The default value, as JSON (jsonencode(true))."},
			"rules":       schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("[]"), Description: "The rules, a JSON array (jsonencode([{tags = [\"tag:beta\"], value = true}])).", PlanModifiers: []planmodifier.String{sameJSONText}},
			"description": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("")},
			"team":        schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(""), Description: "The team whose machines get it (empty: the fleet's)."},
			"version":     schema.Int64Attribute{Computed: true, Description: "The flag's version on the server (every change makes a new one)."},
		},
	}
}

func (r *flagResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

// sameJSON says whether two JSON texts mean the same.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func (m *flagModel) wire() (wire.Flag, error) {
	f := wire.Flag{Key: m.Key.ValueString(), Type: m.Type.ValueString(), Enabled: m.Enabled.ValueBool(),
		Default: json.RawMessage(m.Default.ValueString()), Description: m.Description.ValueString(), Team: m.Team.ValueString()}
	if rules := m.Rules.ValueString(); rules != "" {
		if err := json.Unmarshal([]byte(rules), &f.Rules); err != nil {
			return f, err
		}
	}
	return f, nil
}

// fill sets m from the server's flag, keeping m's JSON text where it
// means the same as the server's.
func (m *flagModel) fill(f wire.Flag) {
	m.Key, m.Type, m.Enabled = types.StringValue(f.Key), types.StringValue(f.Type), types.BoolValue(f.Enabled)
	m.Description, m.Team, m.Version = types.StringValue(f.Description), types.StringValue(f.Team), types.Int64Value(f.Version)
	if m.Default.IsNull() || !sameJSON(m.Default.ValueString(), string(f.Default)) {
		m.Default = types.StringValue(string(f.Default))
	}
	rules, _ := json.Marshal(f.Rules)
	if f.Rules == nil {
		rules = []byte("[]")
	}
	if m.Rules.IsNull() || !sameJSON(m.Rules.ValueString(), string(rules)) {
		m.Rules = types.StringValue(string(rules))
	}
}

// save puts the planned flag on the server (create and update alike: a
// PUT replaces the flag) and records what the server kept.
func (r *flagResource) save(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, d *diag.Diagnostics) {
	var m flagModel
	d.Append(plan.Get(ctx, &m)...)
	if d.HasError() {
		return
	}
	f, err := m.wire()
	if err != nil {
		d.AddAttributeError(path.Root("rules"), "The flag's rules are not a JSON array of rules", err.Error())
		return
	}
	saved, err := r.cl.SetFlag(ctx, f)
	if err != nil {
		apiError(d, "Save the flag "+f.Key, err)
		return
	}
	m.fill(saved)
	d.Append(state.Set(ctx, &m)...)
}

func (r *flagResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *flagResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m flagModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	f, err := r.cl.Flag(ctx, m.Key.ValueString())
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Read the flag", err)
		return
	}
	m.fill(f)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *flagResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *flagResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m flagModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if err := r.cl.DeleteFlag(ctx, m.Key.ValueString()); err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Delete the flag", err)
	}
}

// ImportState takes a flag by key: terraform import wirefleet_flag.x new-ui.
func (r *flagResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("key"), req.ID)...)
}
