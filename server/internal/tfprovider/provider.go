// Package tfprovider is the Terraform provider for Wirefleet
// (terraform-provider-wirefleet), on HashiCorp's terraform-plugin-framework.
// It talks to the server's admin API through pkg/client, with an API key
// and the server's pin as the CLI does, so what Terraform manages is
// exactly what the console and the CLI see: a change made there shows as
// drift in the next plan.
package tfprovider

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Address is the provider's registry address (what dev_overrides name).
const Address = "registry.terraform.io/wirefleet/wirefleet"

// New returns the provider of the given version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &wfProvider{version: version} }
}

type wfProvider struct{ version string }

type providerModel struct {
	Server types.String `tfsdk:"server"`
	APIKey types.String `tfsdk:"api_key"`
	Pin    types.String `tfsdk:"pin"`
}

func (p *wfProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName, resp.Version = "wirefleet", p.version
}

func (p *wfProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manage a Wirefleet fleet as code: the access policy, enrollment tokens, DNS records and feature flags; read its machines.",
		Attributes: map[string]schema.Attribute{
			"server":  schema.StringAttribute{Optional: true, Description: "The server's URL, e.g. https://wf.example.com:8443 (default: $WIREFLEET_SERVER)."},
			"api_key": schema.StringAttribute{Optional: true, Sensitive: true, Description: "An admin API key, wfa_… (default: $WIREFLEET_API_KEY)."},
			"pin":     schema.StringAttribute{Optional: true, Description: "The server's TLS key pin, sha256/… (self-signed servers; default: $WIREFLEET_PIN)."},
		},
	}
}

func (p *wfProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	or := func(v types.String, env string) string {
		if !v.IsNull() && !v.IsUnknown() && v.ValueString() != "" {
			return v.ValueString()
		}
		return os.Getenv(env)
	}
	server, key, pin := or(m.Server, "WIREFLEET_SERVER"), or(m.APIKey, "WIREFLEET_API_KEY"), or(m.Pin, "WIREFLEET_PIN")
	if server == "" || key == "" {
		resp.Diagnostics.AddError("Wirefleet server and API key needed",
			"Set server and api_key in the provider block, or WIREFLEET_SERVER and WIREFLEET_API_KEY (an admin API key: wirefleet-server apikeys create).")
		return
	}
	opts := []client.Option{client.WithToken(key)}
	if pin != "" {
		opts = append(opts, client.WithPin(pin))
	}
	cl, err := client.New(server, opts...)
	if err != nil {
		resp.Diagnostics.AddError("Wirefleet client", err.Error())
		return
	}
	pd := &providerData{cl: cl}
	resp.ResourceData, resp.DataSourceData = pd, pd
}

// providerData is what resources share: the client, and the fleet's DNS
// records read once for a whole refresh (a plan reads every record
// resource at once; each asking for the list would cost a list per
// record: 1,000 records, 1,000 lists).
type providerData struct {
	cl *client.Client

	mu    sync.Mutex // one fetch at a time; readers wait for it
	dns   *wire.DNSRecordsResponse
	dnsAt time.Time
}

// dnsFresh is how long a list of records serves reads: one refresh.
const dnsFresh = 5 * time.Second

func (p *providerData) dnsRecords(ctx context.Context) (wire.DNSRecordsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dns != nil && time.Since(p.dnsAt) < dnsFresh {
		return *p.dns, nil
	}
	rs, err := p.cl.DNSRecords(ctx)
	if err != nil {
		return rs, err
	}
	p.dns, p.dnsAt = &rs, time.Now()
	return rs, nil
}

// dnsChanged forgets the list after this provider changed a record.
func (p *providerData) dnsChanged() {
	p.mu.Lock()
	p.dns = nil
	p.mu.Unlock()
}

func (p *wfProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newPolicy, newDNSRecord, newFlag, newToken, newMachine, newTeam, newRouteApproval, newFlagClient}
}

func (p *wfProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newMachines, newMachineData}
}

// clientOf takes the configured client from a resource's or data source's
// Configure (nil before the provider is configured).
func clientOf(data any, d *diag.Diagnostics) *client.Client {
	if pd := dataOf(data, d); pd != nil {
		return pd.cl
	}
	return nil
}

func dataOf(data any, d *diag.Diagnostics) *providerData {
	if data == nil {
		return nil
	}
	pd, ok := data.(*providerData)
	if !ok {
		d.AddError("Wirefleet provider", fmt.Sprintf("unexpected provider data %T", data))
	}
	return pd
}

// apiError adds the server's refusal to d, its stable code in the summary.
func apiError(d *diag.Diagnostics, what string, err error) {
	if code := wire.ErrorCode(err); code != "" {
		d.AddError(fmt.Sprintf("%s: %s", what, code), err.Error())
		return
	}
	d.AddError(what, err.Error())
}

// diagErr turns diagnostics into an error (for helpers that return one).
func diagErr(d diag.Diagnostics) error {
	for _, e := range d.Errors() {
		return fmt.Errorf("%s: %s", e.Summary(), e.Detail())
	}
	return nil
}

// notFound reports whether err is the server's not_found.
func notFound(err error) bool { return wire.ErrorCode(err) == wire.CodeNotFound }
