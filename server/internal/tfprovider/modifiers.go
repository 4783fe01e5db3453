package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
)

// sameAs keeps the state's value when the configuration says the same
// thing in other words (JSON with other spacing or key order), so that an
// import or the server's own spelling is no change. Terraform takes a plan
// that differs from the configuration only for computed attributes, so
// it is used on optional+computed ones.
type sameAs struct {
	desc string
	same func(config, state string) bool
}

func (m sameAs) Description(context.Context) string         { return m.desc }
func (m sameAs) MarkdownDescription(context.Context) string { return m.desc }

func (m sameAs) PlanModifyString(_ context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.StateValue.IsNull() || req.PlanValue.IsUnknown() || req.PlanValue.IsNull() {
		return
	}
	if m.same(req.PlanValue.ValueString(), req.StateValue.ValueString()) {
		resp.PlanValue = req.StateValue
	}
}

var sameJSONText = sameAs{"JSON that means the same is no change", sameJSON}
