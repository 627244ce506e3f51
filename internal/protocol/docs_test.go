package protocol

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Every error code and close code declared in errors.go is documented in docs/protocol.md.
func TestEveryCodeDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				var want string
				switch {
				case strings.HasPrefix(name.Name, "Code") && lit.Kind == token.STRING:
					v, _ := strconv.Unquote(lit.Value)
					want = "`" + v + "`"
				case strings.HasPrefix(name.Name, "Close") && lit.Kind == token.INT:
					want = "| " + lit.Value + " |"
				default:
					continue
				}
				found++
				if !strings.Contains(string(doc), want) {
					t.Errorf("%s (%s) is not documented in docs/protocol.md", name.Name, want)
				}
			}
		}
	}
	if found < 15 {
		t.Fatalf("found only %d codes in errors.go; the parser missed them", found)
	}
}
