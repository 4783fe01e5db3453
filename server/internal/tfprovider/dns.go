package tfprovider

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// dnsRecordResource is one record of the fleet's domain
// (wirefleet_dns_record). A record has no identity but its content, so
// any change replaces it.
type dnsRecordResource struct {
	cl *client.Client
	pd *providerData
}

type dnsRecordModel struct {
	ID    types.String `tfsdk:"id"`
	Name  types.String `tfsdk:"name"`
	Type  types.String `tfsdk:"type"`
	Value types.String `tfsdk:"value"`
}

func newDNSRecord() resource.Resource { return &dnsRecordResource{} }

func (r *dnsRecordResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dns_record"
}

func (r *dnsRecordResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "A DNS record in the fleet's domain (fleet.internal by default), answered by every agent's resolver.",
		Attributes: map[string]schema.Attribute{
			"id":    schema.StringAttribute{Computed: true, Description: "NAME/TYPE/VALUE, the name as the server keeps it."},
			"name":  schema.StringAttribute{Required: true, Description: `The name, "db" or "db.fleet.internal".`},
			"type":  schema.StringAttribute{Required: true, Description: "A, AAAA or CNAME.", PlanModifiers: replace},
			"value": schema.StringAttribute{Required: true, Description: "The address, or the CNAME's target.", PlanModifiers: replace},
		},
	}
}

func (r *dnsRecordResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if r.pd = dataOf(req.ProviderData, &resp.Diagnostics); r.pd != nil {
		r.cl = r.pd.cl
	}
}

func recordID(rec wire.DNSRecord) string { return rec.Name + "/" + rec.Type + "/" + rec.Value }

func (r *dnsRecordResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m dnsRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, err := r.cl.AddDNSRecord(ctx, wire.DNSRecord{Name: m.Name.ValueString(), Type: m.Type.ValueString(), Value: m.Value.ValueString()})
	r.pd.dnsChanged()
	if err != nil {
		apiError(&resp.Diagnostics, "Add the DNS record", err)
		return
	}
	// The server may spell the name fully (db → db.fleet.internal): keep
	// what was written, identify by what the server stores.
	m.ID = types.StringValue(recordID(rec))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// find looks the record up by its ID, NAME/TYPE/VALUE, the name with or
// without the fleet's domain.
func (r *dnsRecordResource) find(ctx context.Context, id string) (wire.DNSRecord, bool, error) {
	rs, err := r.pd.dnsRecords(ctx)
	if err != nil {
		return wire.DNSRecord{}, false, err
	}
	parts := strings.SplitN(id, "/", 3)
	if len(parts) != 3 {
		return wire.DNSRecord{}, false, nil
	}
	for _, rec := range rs.Records {
		named := parts[0] == rec.Name || (rs.Domain != "" && parts[0] == rec.Name+"."+rs.Domain)
		if named && strings.EqualFold(parts[1], rec.Type) && parts[2] == rec.Value {
			return rec, true, nil
		}
	}
	return wire.DNSRecord{}, false, nil
}

func (r *dnsRecordResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m dnsRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, ok, err := r.find(ctx, m.ID.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Read the DNS records", err)
		return
	}
	if !ok {
		resp.State.RemoveResource(ctx) // removed elsewhere: plan adds it again
		return
	}
	if m.Name.IsNull() || !sameName(m.Name.ValueString(), rec.Name) { // imported, or renamed elsewhere
		m.Name = types.StringValue(rec.Name)
	}
	m.ID, m.Type, m.Value = types.StringValue(recordID(rec)), types.StringValue(rec.Type), types.StringValue(rec.Value)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// sameName says whether a name as written is the server's full one.
func sameName(written, full string) bool {
	return written == full || strings.HasPrefix(full, written+".")
}

// Update handles a new name (type and value replace the record): the
// same name spelled otherwise changes nothing on the server; another name
// moves the record.
func (r *dnsRecordResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state dnsRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	full := strings.SplitN(state.ID.ValueString(), "/", 3)[0]
	plan.ID = state.ID
	if !sameName(plan.Name.ValueString(), full) {
		rec, err := r.cl.AddDNSRecord(ctx, wire.DNSRecord{Name: plan.Name.ValueString(), Type: plan.Type.ValueString(), Value: plan.Value.ValueString()})
		r.pd.dnsChanged()
		if err != nil {
			apiError(&resp.Diagnostics, "Add the DNS record", err)
			return
		}
		if err := r.cl.RemoveDNSRecord(ctx, full, state.Type.ValueString(), state.Value.ValueString()); err != nil && !notFound(err) {
			apiError(&resp.Diagnostics, "Remove the DNS record's old name", err)
		}
		plan.ID = types.StringValue(recordID(rec))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *dnsRecordResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m dnsRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	parts := strings.SplitN(m.ID.ValueString(), "/", 3)
	if len(parts) != 3 {
		resp.Diagnostics.AddError("Remove the DNS record", "malformed ID "+m.ID.ValueString())
		return
	}
	err := r.cl.RemoveDNSRecord(ctx, parts[0], parts[1], parts[2])
	r.pd.dnsChanged()
	if err != nil && !notFound(err) {
		apiError(&resp.Diagnostics, "Remove the DNS record", err)
	}
}

// ImportState takes an existing record: terraform import wirefleet_dns_record.x db.fleet.internal/A/100.64.0.5.
func (r *dnsRecordResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if len(strings.SplitN(req.ID, "/", 3)) != 3 {
		resp.Diagnostics.AddError("Import a DNS record", "give NAME/TYPE/VALUE, the name in full, e.g. db.fleet.internal/A/100.64.0.5")
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
