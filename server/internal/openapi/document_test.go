package openapi

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestDocumentIsValid lints the document: kin-openapi loads it back from
// its JSON and validates it (OpenAPI 3.1, JSON Schema 2020-12), and every
// operation has an ID, a summary and a tag.
func TestDocumentIsValid(t *testing.T) {
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	d, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !d.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", d.OpenAPI)
	}
	ids := map[string]bool{}
	for path, item := range d.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 || ids[op.OperationID] {
				t.Errorf("%s %s: id %q (duplicate: %v), summary %q, tags %v", method, path, op.OperationID, ids[op.OperationID], op.Summary, op.Tags)
			}
			ids[op.OperationID] = true
		}
	}
	t.Logf("%d operations, %d schemas, %d bytes", len(ids), len(d.Components.Schemas), len(b))
}
