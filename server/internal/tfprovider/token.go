package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// tokenResource is an enrollment token (wirefleet_token). A token cannot
// be changed, so every attribute replaces it; destroying it revokes it.
// Its secret is known only to the apply that made it (sensitive, in the
// state): an imported token has none.
type tokenResource struct{ cl *client.Client }

type tokenModel struct {
	ID        types.String `tfsdk:"id"`
	Tags      types.List   `tfsdk:"tags"`
	Reusable  types.Bool   `tfsdk:"reusable"`
	Ephemeral types.Bool   `tfsdk:"ephemeral"`
	MaxUses   types.Int64  `tfsdk:"max_uses"`
	Expires   types.String `tfsdk:"expires"`
	Secret    types.String `tfsdk:"secret"`
	Prefix    types.String `tfsdk:"prefix"`
	State     types.String `tfsdk:"state"`
}

func newToken() resource.Resource { return &tokenResource{} }

func (r *tokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_token"
}

func (r *tokenResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "An enrollment token. Any change makes a new token; destroy revokes it. A token revoked, used up or expired elsewhere is made again by the next apply.",
		Attributes: map[string]schema.Attribute{
			"id":        schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"tags":      schema.ListAttribute{ElementType: types.StringType, Optional: true, Description: "Tags of the machines it enrolls (tag:NAME).", PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()}},
			"reusable":  schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"ephemeral": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false), Description: "Machines it enrolls are removed once offline.", PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"max_uses":  schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0), Description: "Reusable: at most this many machines (0: no bound).", PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()}},
			"expires":   schema.StringAttribute{Optional: true, Description: "Lifetime, e.g. 24h or 720h (default: the server's --token-ttl).", PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"secret":    schema.StringAttribute{Computed: true, Sensitive: true, Description: "The token, wfe_… (only from the apply that made it).", PlanModifiers: keep},
			"prefix":    schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"state":     schema.StringAttribute{Computed: true, Description: "active, expired, revoked or exhausted.", PlanModifiers: keep},
		},
	}
}

func (r *tokenResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

func (r *tokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var tags []string
	resp.Diagnostics.Append(m.Tags.ElementsAs(ctx, &tags, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.cl.CreateToken(ctx, wire.CreateTokenRequest{Reusable: m.Reusable.ValueBool(), Ephemeral: m.Ephemeral.ValueBool(),
		MaxUses: int(m.MaxUses.ValueInt64()), Tags: tags, ExpiresIn: m.Expires.ValueString()})
	if err != nil {
		apiError(&resp.Diagnostics, "Create the token", err)
		return
	}
	m.ID, m.Secret, m.Prefix, m.State = types.StringValue(out.Token.ID), types.StringValue(out.Secret), types.StringValue(out.Token.Prefix), types.StringValue(out.Token.State)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *tokenResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ts, err := r.cl.ListTokens(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Read the tokens", err)
		return
	}
	for _, t := range ts {
		if t.ID != m.ID.ValueString() {
			continue
		}
		if t.State != "active" {
			break // revoked, expired or used up: plan makes a new one
		}
		m.Prefix, m.State = types.StringValue(t.Prefix), types.StringValue(t.State)
		m.Reusable, m.Ephemeral, m.MaxUses = types.BoolValue(t.Reusable), types.BoolValue(t.Ephemeral), types.Int64Value(int64(t.MaxUses))
		if len(t.Tags) > 0 || !m.Tags.IsNull() {
			tags, d := types.ListValueFrom(ctx, types.StringType, t.Tags)
			resp.Diagnostics.Append(d...)
			m.Tags = tags
		}
		if m.Secret.IsNull() || m.Secret.IsUnknown() {
			m.Secret = types.StringValue("") // imported: the secret was shown once, elsewhere
		}
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
		return
	}
	resp.State.RemoveResource(ctx)
}

func (r *tokenResource) Update(_ context.Context, _ resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.AddError("Tokens are replaced, never updated", "every attribute forces a new token")
}

func (r *tokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m tokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if _, err := r.cl.RevokeToken(ctx, m.ID.ValueString()); err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Revoke the token", err)
	}
}

// ImportState takes a token by ID (its secret stays unknown).
func (r *tokenResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
