package tfprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// policyResource is the fleet's one access policy (wirefleet_policy). Its
// document is the HuJSON text as written; plan runs the server's checks
// and the policy's own tests (a dry run), so a broken policy fails the
// plan with the problem's position, before anything is applied.
type policyResource struct{ cl *client.Client }

type policyModel struct {
	ID       types.String `tfsdk:"id"`
	Document types.String `tfsdk:"document"`
	Version  types.Int64  `tfsdk:"version"`
	Rules    types.Int64  `tfsdk:"rules"`
}

func newPolicy() resource.Resource { return &policyResource{} }

func (r *policyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_policy"
}

func (r *policyResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The fleet's access policy (one per server). Destroying it removes the policy: every machine reaches every machine again.",
		Attributes: map[string]schema.Attribute{
			"id":       schema.StringAttribute{Computed: true, Description: `Always "policy".`, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"document": schema.StringAttribute{Required: true, Description: "The policy in HuJSON (JSON with comments and trailing commas), e.g. file(\"policy.hujson\"). Checked, and its tests run, at plan time."},
			"version":  schema.Int64Attribute{Computed: true, Description: "The policy's version on the server.", PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
			"rules":    schema.Int64Attribute{Computed: true, Description: "How many rules it has.", PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
		},
	}
}

func (r *policyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.cl = clientOf(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan runs the policy's checks and tests on the server without
// applying it, so that `terraform plan` fails on a broken policy.
func (r *policyResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.cl == nil {
		return
	}
	var plan policyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Document.IsUnknown() {
		return
	}
	if !req.State.Raw.IsNull() {
		var state policyModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if state.Document.Equal(plan.Document) {
			return
		}
		plan.Version, plan.Rules = types.Int64Unknown(), types.Int64Unknown()
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	}
	if _, err := r.cl.SetPolicy(ctx, wire.PutPolicyRequest{Text: plan.Document.ValueString(), DryRun: true}); err != nil {
		policyProblems(&resp.Diagnostics, err)
	}
}

// policyProblems turns policy_invalid's positioned problems into one
// diagnostic each on the document attribute.
func policyProblems(d interface {
	AddAttributeError(path.Path, string, string)
	AddError(string, string)
}, err error) {
	var we *wire.Error
	if errors.As(err, &we) && len(we.Problems) > 0 {
		for _, p := range we.Problems {
			where := ""
			if p.Line > 0 {
				where = fmt.Sprintf("line %d, column %d: ", p.Line, p.Col)
			}
			if p.Path != "" {
				where += p.Path + ": "
			}
			d.AddAttributeError(path.Root("document"), "The access policy has a problem", where+p.Message)
		}
		return
	}
	if errors.As(err, &we) {
		d.AddAttributeError(path.Root("document"), "The access policy was refused: "+string(we.Code), we.Message)
		return
	}
	d.AddError("The access policy", err.Error())
}

func (r *policyResource) put(ctx context.Context, m *policyModel, diags interface {
	AddAttributeError(path.Path, string, string)
	AddError(string, string)
}) bool {
	p, err := r.cl.SetPolicy(ctx, wire.PutPolicyRequest{Text: m.Document.ValueString()})
	if err != nil {
		policyProblems(diags, err)
		return false
	}
	m.ID, m.Version, m.Rules = types.StringValue("policy"), types.Int64Value(p.Version), types.Int64Value(int64(p.Rules))
	return true
}

// save puts the planned policy and records its version.
func (r *policyResource) save(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, d *diag.Diagnostics) {
	var m policyModel
	d.Append(plan.Get(ctx, &m)...)
	if d.HasError() || !r.put(ctx, &m, d) {
		return
	}
	d.Append(state.Set(ctx, &m)...)
}

func (r *policyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *policyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m policyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p, err := r.cl.Policy(ctx)
	if notFound(err) || (err == nil && strings.TrimSpace(p.Text) == "") {
		resp.State.RemoveResource(ctx) // cleared elsewhere: plan creates it again
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Read the access policy", err)
		return
	}
	// The server keeps the text as given: any difference is a change
	// made elsewhere (the console, the CLI), which the plan then shows.
	m.ID, m.Document, m.Version, m.Rules = types.StringValue("policy"), types.StringValue(p.Text), types.Int64Value(p.Version), types.Int64Value(int64(p.Rules))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *policyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.save(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *policyResource) Delete(ctx context.Context, _ resource.DeleteRequest, resp *resource.DeleteResponse) {
	if _, err := r.cl.SetPolicy(ctx, wire.PutPolicyRequest{Text: ""}); err != nil {
		apiError(&resp.Diagnostics, "Remove the access policy", err)
	}
}

// ImportState takes the policy in force: terraform import wirefleet_policy.x policy.
func (r *policyResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID != "policy" {
		resp.Diagnostics.AddError("Import the access policy", `the ID of the policy is "policy": terraform import wirefleet_policy.NAME policy`)
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), "policy")...)
}
