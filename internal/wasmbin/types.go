package wasmbin

import "fmt"

// ValType is a value type by its leading byte in the binary format: the
// numeric and vector types (I32 ... V128) and the one-byte reference types
// (FuncRef, ExternRef and the other shorthands) are exact. A reference to a
// concrete heap type is RefNull or Ref with that heap type dropped, which is
// enough to tell a WASI signature (numbers only) from anything else.
type ValType byte

// Value types.
const (
	I32       ValType = 0x7f
	I64       ValType = 0x7e
	F32       ValType = 0x7d
	F64       ValType = 0x7c
	V128      ValType = 0x7b
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
	Ref       ValType = 0x64 // (ref ht), heap type dropped
	RefNull   ValType = 0x63 // (ref null ht), heap type dropped
)

func (t ValType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case V128:
		return "v128"
	case FuncRef:
		return "funcref"
	case ExternRef:
		return "externref"
	case Ref:
		return "ref"
	case RefNull:
		return "ref null"
	}
	return fmt.Sprintf("valtype(%#x)", byte(t))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

// ExternKind is the kind of an import or export.
type ExternKind byte

// Import and export kinds.
const (
	KindFunc   ExternKind = 0
	KindTable  ExternKind = 1
	KindMemory ExternKind = 2
	KindGlobal ExternKind = 3
	KindTag    ExternKind = 4
)

func (k ExternKind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind(%#x)", byte(k))
}

// Import is one import of a module.
type Import struct {
	Module, Name string
	Kind         ExternKind
	Func         *FuncType // functions only
}

// Imports lists the imports of a module in order.
func Imports(wasm []byte) ([]Import, error) {
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	i := findSection(secs, secImport)
	if i < 0 {
		return nil, nil
	}
	entries, err := parseImports(secs[i])
	if err != nil {
		return nil, err
	}
	var types []*FuncType
	if t := findSection(secs, secType); t >= 0 {
		if types, err = parseTypes(secs[t]); err != nil {
			return nil, err
		}
	}
	imports := make([]Import, len(entries))
	for i, e := range entries {
		imports[i] = Import{Module: e.module, Name: e.name, Kind: e.kind}
		if e.kind == KindFunc {
			if imports[i].Func, err = funcType(types, e); err != nil {
				return nil, err
			}
		}
	}
	return imports, nil
}
