package signal_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/signal"
)

// The documents these tests keep in step with the code.
const (
	behaviourPath = "../../docs/BEHAVIOUR.md"
	packageDoc    = "doc.go"
)

// linkerSignatures returns the type of every import Install defines, as
// "ns.name" -> "(i32, i64) -> errno" (or "-> ()" without a result).
func linkerSignatures(t *testing.T) map[string]string {
	t.Helper()
	engine := wasmtime.NewEngine()
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	if err := signal.Install(linker); err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	defer store.Close()
	kind := map[wasmtime.ValKind]string{wasmtime.KindI32: "i32", wasmtime.KindI64: "i64"}
	out := make(map[string]string)
	for _, ns := range []string{signal.Wasix32, signal.Wasix64} {
		for _, name := range signal.Names() {
			ext := linker.Get(store, ns, name)
			if ext == nil || ext.Func() == nil {
				t.Fatalf("%s.%s: not defined by Install", ns, name)
			}
			ty := ext.Func().Type(store)
			var params []string
			for _, p := range ty.Params() {
				params = append(params, kind[p.Kind()])
			}
			result := "()"
			switch rs := ty.Results(); {
			case len(rs) == 1 && rs[0].Kind() == wasmtime.KindI32:
				result = "errno"
			case len(rs) != 0:
				result = fmt.Sprint(rs)
			}
			out[ns+"."+name] = "(" + strings.Join(params, ", ") + ") -> " + result
		}
	}
	return out
}

var (
	// A documented signature: "(name_ptr i32, name_len i32) -> ()".
	docSignature = regexp.MustCompile(`^\(([^)]*)\)\s*->\s*(\(\)|errno)$`)
	valType      = regexp.MustCompile(`\b(i32|i64)\b`)
)

// typesOf reduces a documented signature to its types, in the notation of
// linkerSignatures.
func typesOf(t *testing.T, where, sig string) string {
	t.Helper()
	m := docSignature.FindStringSubmatch(strings.TrimSpace(sig))
	if m == nil {
		t.Errorf("%s: signature %q is not of the form (name type, ...) -> errno|()", where, sig)
		return sig
	}
	var types []string
	for _, param := range strings.Split(m[1], ",") {
		if strings.TrimSpace(param) == "" {
			continue
		}
		ts := valType.FindAllString(param, -1)
		if len(ts) != 1 {
			t.Errorf("%s: parameter %q has no single i32/i64 type", where, param)
			continue
		}
		types = append(types, ts[0])
	}
	return "(" + strings.Join(types, ", ") + ") -> " + m[2]
}

// TestPackageDocSignatures holds the import table of the package comment
// to the types Install really defines, in both namespaces.
func TestPackageDocSignatures(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), packageDoc, nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil || f.Doc == nil {
		t.Fatalf("package comment of %s: %v", packageDoc, err)
	}
	got := make(map[string]string)
	ns := ""
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case !strings.HasPrefix(line, "\t"):
			ns = "" // the table is one preformatted block per namespace
		case trimmed == signal.Wasix32 || trimmed == signal.Wasix64:
			ns = trimmed
		case ns != "":
			name, sig, ok := strings.Cut(trimmed, " ")
			if !ok {
				t.Errorf("%s: table row %q has no signature", ns, line)
				continue
			}
			key := ns + "." + name
			if _, dup := got[key]; dup {
				t.Errorf("%s listed twice", key)
			}
			got[key] = typesOf(t, key, sig)
		}
	}
	if diff := cmp.Diff(linkerSignatures(t), got); diff != "" {
		t.Errorf("import table of the package comment differs from Install (-Install +doc):\n%s", diff)
	}
}

// TestBehaviourDoc checks docs/BEHAVIOUR.md against the code: its sections
// 1 to 10 in order (other files refer to them by number), the signal
// numbers of section 1, and the import table of section 2 against the
// wasix_32v1 types Install defines.
func TestBehaviourDoc(t *testing.T) {
	raw, err := os.ReadFile(behaviourPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	var sections []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			sections = append(sections, line)
		}
	}
	pos := 0
	for n := 1; n <= 10; n++ {
		prefix := fmt.Sprintf("## %d. ", n)
		found := false
		for j := pos; j < len(sections) && !found; j++ {
			if strings.HasPrefix(sections[j], prefix) {
				found, pos = true, j+1
			}
		}
		if !found {
			t.Errorf("%s: no heading %q after section %d (headings: %q)", behaviourPath, prefix, n-1, sections)
		}
	}

	for s := wasix.Signal(1); s < wasix.NSIG; s++ {
		if cell := fmt.Sprintf("| %d | %v", s, s); !strings.Contains(doc, cell) {
			t.Errorf("%s: signal table lacks %q", behaviourPath, cell)
		}
	}

	section2 := doc[strings.Index(doc, "## 2. "):]
	section2 = section2[:strings.Index(section2, "\n## ")]
	row := regexp.MustCompile("(?m)^\\| `([a-z_0-9]+)` \\| `([^`]*)` \\|")
	got := make(map[string]string)
	for _, m := range row.FindAllStringSubmatch(section2, -1) {
		key := signal.Wasix32 + "." + m[1]
		got[key] = typesOf(t, key, m[2])
	}
	want := make(map[string]string)
	for k, v := range linkerSignatures(t) {
		if strings.HasPrefix(k, signal.Wasix32+".") {
			want[k] = v
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s section 2 differs from the wasix_32v1 imports of Install (-Install +doc):\n%s", behaviourPath, diff)
	}
}
