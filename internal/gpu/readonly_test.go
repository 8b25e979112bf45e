package gpu

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readOnlyDirs are the packages that must never change cluster state. The operator actions
// live in internal/gpu/ops, which is deliberately absent.
var readOnlyDirs = []string{
	".", "agent", "cluster", "fake", "nvmlcollector", "procmap", "prom", "xid",
	"../redact", "../gpumcp", "../../cmd/gpu-mcp-server",
}

// mutatingVerbs are client-go (typed, dynamic and controller-runtime) methods that write.
var mutatingVerbs = map[string]bool{
	"Create": true, "Update": true, "UpdateStatus": true, "UpdateScale": true, "Patch": true,
	"Apply": true, "ApplyStatus": true, "ApplyScale": true, "Delete": true, "DeleteCollection": true,
	"DeleteAllOf": true, "Evict": true, "EvictV1": true, "EvictV1beta1": true, "Bind": true, "CreateToken": true,
}

// restVerbs are rest.Request builders for writes; they take no arguments.
var restVerbs = map[string]bool{"Post": true, "Put": true}

// reviewResources create nothing: the API server answers them without storing an object.
var reviewResources = map[string]bool{"TokenReviews": true, "SubjectAccessReviews": true, "SelfSubjectAccessReviews": true}

// mutatingCalls returns "file:line: call" for every mutating client call in src.
func mutatingCalls(fset *token.FileSet, f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		verb := sel.Sel.Name
		if !mutatingVerbs[verb] && (!restVerbs[verb] || len(call.Args) != 0) {
			return true
		}
		if chainCalls(sel.X, reviewResources) {
			return true
		}
		out = append(out, fmt.Sprintf("%s: .%s(...)", fset.Position(call.Pos()), verb))
		return true
	})
	return out
}

// chainCalls reports whether the receiver chain calls one of names, as in
// c.AuthenticationV1().TokenReviews().Create(...).
func chainCalls(x ast.Expr, names map[string]bool) bool {
	for {
		switch e := x.(type) {
		case *ast.CallExpr:
			if s, ok := e.Fun.(*ast.SelectorExpr); ok {
				if names[s.Sel.Name] {
					return true
				}
				x = s.X
				continue
			}
			return false
		case *ast.SelectorExpr:
			x = e.X
		default:
			return false
		}
	}
}

func TestReadOnlyPackagesMakeNoMutatingClientCalls(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	for _, dir := range readOnlyDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parse %s: %v", name, err)
			}
			files++
			for _, c := range mutatingCalls(fset, f) {
				t.Errorf("mutating client call in a read-only package: %s", c)
			}
		}
	}
	if files < 20 {
		t.Fatalf("walked only %d files; the directory list is stale", files)
	}
}

func TestMutatingCallDetector(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"typed create", `c.CoreV1().Pods("x").Create(ctx, p, o)`, 1},
		{"typed patch", `c.CoreV1().Nodes().Patch(ctx, n, pt, b, o)`, 1},
		{"eviction", `c.CoreV1().Pods(ns).EvictV1(ctx, ev)`, 1},
		{"dynamic delete", `d.Resource(gvr).Namespace(ns).Delete(ctx, n, o)`, 1},
		{"controller-runtime update", `k.Update(ctx, obj)`, 1},
		{"rest post", `c.CoreV1().RESTClient().Post().Resource("pods").Do(ctx)`, 1},
		{"token review is not a write", `c.AuthenticationV1().TokenReviews().Create(ctx, r, o)`, 0},
		{"get and list", `c.CoreV1().Nodes().Get(ctx, n, o); c.CoreV1().Pods("").List(ctx, o)`, 0},
		{"http post with args", `http.Post(u, "application/json", b)`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package p\nfunc f() {\n" + tt.body + "\n}\n"
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := mutatingCalls(fset, f); len(got) != tt.want {
				t.Fatalf("found %v, want %d", got, tt.want)
			}
		})
	}
}

// The operator package is where writes belong; the detector must see them there.
func TestDetectorSeesTheOperatorPackage(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("ops", "ops.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := mutatingCalls(fset, f); len(got) != 2 {
		t.Fatalf("ops.go: found %v, want the cordon patch and the eviction POST", got)
	}
}
