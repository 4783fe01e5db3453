package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestCodesListsEveryCode parses errors.go: every Code constant is in
// Codes (the OpenAPI document's enum), once.
func TestCodesListsEveryCode(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || vs.Type == nil {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
			return true
		}
		for _, name := range vs.Names {
			n++
			lit := vs.Values[0].(*ast.BasicLit).Value
			if !slices.Contains(Codes, Code(lit[1:len(lit)-1])) {
				t.Errorf("%s is not in Codes", name.Name)
			}
		}
		return true
	})
	if n != len(Codes) {
		t.Errorf("%d codes declared, %d in Codes", n, len(Codes))
	}
}
