// Package wasmbin adapts WASIX binaries (built with wasix-libc) for
// wasmtime-go at load time, by rewriting the module before it is compiled
// (docs/BEHAVIOUR.md section 7).
//
// A wasix-libc program imports its memory (env.memory, shared, 65536 pages
// at most) and does not export it, and imports the WASI preview1 functions
// under the module name wasix_32v1. wasmtime's WASI finds memory only
// through the calling instance's "memory" export, and wasmtime-go v25 has no
// Go handle for a shared memory. Rewrite therefore
//
//   - turns the memory import into a defined memory with the same limits,
//     unshared, exported as "memory";
//   - renames the module of the function imports the caller chooses from
//     wasix_32v1 to wasi_snapshot_preview1, so that wasmtime's own WASI
//     implements them;
//   - likewise moves the wasi_unstable imports the caller chooses to the
//     module the caller names (wasmtime-go defines only
//     wasi_snapshot_preview1).
//
// The imported memory is memory 0 and the defined one is memory 0 too, so no
// instruction changes. Only the import, memory and export sections are
// decoded and rebuilt; every other section, custom sections included, is
// copied byte for byte in place, so the rewrite does not depend on the wasm
// features the module uses (threads, bulk memory, exceptions, SIMD, GC).
// The type section is decoded only to pass signatures to the caller.
//
// Malformed input gives a *FormatError, never a panic; no length read from
// the input is trusted beyond the bytes that are there.
package wasmbin

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Module names of the imports Rewrite renames.
const (
	WASIXModule    = "wasix_32v1"
	UnstableModule = "wasi_unstable"
	Preview1Module = "wasi_snapshot_preview1"
)

// MemoryExport is the name under which Rewrite exports the memory.
const MemoryExport = "memory"

// Options says what Rewrite renames.
type Options struct {
	// RenameToPreview1 reports whether an import wasix_32v1.NAME with the
	// given function type should be renamed to wasi_snapshot_preview1.NAME.
	// The caller decides: the names preview1 defines with the same
	// signature, minus the ones the host implements itself. Nil renames
	// nothing.
	RenameToPreview1 func(name string, params, results []ValType) bool
	// RenameUnstable returns the module an import wasi_unstable.NAME
	// with the given function type moves to, or "" to leave it: the host
	// sends the functions whose ABI preview1 kept to
	// wasi_snapshot_preview1 and the others to its own translations. Nil
	// renames nothing.
	RenameUnstable func(name string, params, results []ValType) string
}

// Report says what Rewrite changed. The zero Report means nothing.
type Report struct {
	MemoryImported bool   // a memory import was turned into a defined memory
	Shared         bool   // the import was shared (the defined memory is not)
	Min, Max       uint64 // limits of that memory, in pages
	HasMax         bool
	Renamed        []string // names moved from wasix_32v1 to wasi_snapshot_preview1, in import order
	// RenamedUnstable are the names moved out of wasi_unstable, in
	// import order.
	RenamedUnstable []string
	MemoryExported  bool // a "memory" export was added
	// Offsets maps offsets in the output back to the input; nil when
	// nothing changed.
	Offsets OffsetMap
}

// ErrMultipleMemories is returned by Rewrite for a module that imports a
// memory and has another one (multi-memory): moving the import into the
// memory section would renumber memories.
var ErrMultipleMemories = errors.New("wasmbin: module imports a memory and has more than one memory")

// Rewrite adapts a WASIX binary for wasmtime-go: see the package comment.
// A module that needs no change is returned as is (the same slice) with a
// zero Report; otherwise the result is a new slice.
//
// It fails with a *FormatError for a malformed binary (including a renamed
// import whose type index is not a function type) and with
// ErrMultipleMemories for a module that imports a memory and has another.
func Rewrite(wasm []byte, opts Options) ([]byte, *Report, error) {
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, nil, err
	}
	var (
		imports  []importEntry
		defined  int
		exps     exports
		rep      = &Report{}
		memory   = -1 // index in imports
		memories = 0
	)
	importSec, memorySec, exportSec := findSection(secs, secImport), findSection(secs, secMemory), findSection(secs, secExport)
	if importSec >= 0 {
		if imports, err = parseImports(secs[importSec]); err != nil {
			return nil, nil, err
		}
	}
	if memorySec >= 0 {
		if defined, err = countMemories(secs[memorySec]); err != nil {
			return nil, nil, err
		}
	}
	if exportSec >= 0 {
		if exps, err = parseExports(secs[exportSec]); err != nil {
			return nil, nil, err
		}
	}
	for i, im := range imports {
		if im.kind == KindMemory {
			memory = i
			memories++
		}
	}
	if memory >= 0 && memories+defined > 1 {
		return nil, nil, fmt.Errorf("%w (%d imported, %d defined)", ErrMultipleMemories, memories, defined)
	}

	renamed, err := chooseRenames(secs, imports, opts)
	if err != nil {
		return nil, nil, err
	}
	if memory < 0 && len(renamed) == 0 {
		return wasm, rep, nil
	}

	var newImports []byte
	keep := uint64(0)
	for i, im := range imports {
		switch {
		case i == memory:
			continue
		case renamed[i] != "":
			newImports = appendName(newImports, renamed[i])
			newImports = append(newImports, im.rest...)
			if im.module == UnstableModule {
				rep.RenamedUnstable = append(rep.RenamedUnstable, im.name)
			} else {
				rep.Renamed = append(rep.Renamed, im.name)
			}
		default:
			newImports = append(newImports, im.raw...)
		}
		keep++
	}
	// There is an import section: there was an import to move or rename.
	if keep == 0 {
		secs[importSec].raw = nil // drop it
	} else if secs, err = putSection(secs, secImport, append(appendULEB(nil, keep), newImports...)); err != nil {
		return nil, nil, err
	}

	if memory >= 0 {
		m := imports[memory]
		rep.MemoryImported, rep.Shared = true, m.memory.shared
		rep.Min, rep.Max, rep.HasMax = m.memory.min, m.memory.max, m.memory.hasMax
		// One entry (there were none): the import's type minus the shared flag.
		newMemory := append([]byte{1, m.memoryRaw[0] &^ limitsShared}, m.memoryRaw[1:]...)
		if secs, err = putSection(secs, secMemory, newMemory); err != nil {
			return nil, nil, err
		}
		if !exps.names[MemoryExport] {
			newExports := appendULEB(nil, uint64(exps.count)+1)
			newExports = append(newExports, exps.entries...)
			newExports = appendName(newExports, MemoryExport)
			newExports = append(newExports, byte(KindMemory), 0)
			if secs, err = putSection(secs, secExport, newExports); err != nil {
				return nil, nil, err
			}
			rep.MemoryExported = true
		}
	}

	size := 0
	for _, s := range secs {
		size += len(s.raw)
	}
	out := append(make([]byte, 0, headerLen+size), wasm[:headerLen]...)
	for _, s := range secs {
		if len(s.raw) > 0 {
			rep.Offsets = append(rep.Offsets, Span{Out: len(out), In: s.start, Len: len(s.raw), Copied: !s.rebuilt})
		}
		out = append(out, s.raw...)
	}
	return out, rep, nil
}

// chooseRenames asks opts which wasix_32v1 and wasi_unstable function
// imports to rename, decoding the type section only if there is one to ask
// about. The result maps the indices in imports of those to rename to
// their new module.
func chooseRenames(secs []section, imports []importEntry, opts Options) (map[int]string, error) {
	ask := map[string]func(string, []ValType, []ValType) string{}
	if opts.RenameToPreview1 != nil {
		ask[WASIXModule] = func(name string, params, results []ValType) string {
			if opts.RenameToPreview1(name, params, results) {
				return Preview1Module
			}
			return ""
		}
	}
	if opts.RenameUnstable != nil {
		ask[UnstableModule] = opts.RenameUnstable
	}
	if len(ask) == 0 {
		return nil, nil
	}
	var (
		renamed = make(map[int]string)
		types   []*FuncType
		parsed  bool
	)
	for i, im := range imports {
		rename := ask[im.module]
		if im.kind != KindFunc || rename == nil {
			continue
		}
		if !parsed {
			parsed = true
			if t := findSection(secs, secType); t >= 0 {
				var err error
				if types, err = parseTypes(secs[t]); err != nil {
					return nil, err
				}
			}
		}
		ft, err := funcType(types, im)
		if err != nil {
			return nil, err
		}
		if to := rename(im.name, ft.Params, ft.Results); to != "" && to != im.module {
			renamed[i] = to
		}
	}
	return renamed, nil
}

// insertionPoint returns the index in secs before which a new section with
// the given id goes: right after the last section that must precede it,
// before the custom sections that follow that one (so a trailing "name"
// section stays last). Rewrite inserts only into a module that imports its
// memory, so the import section is there to precede a memory or export
// section.
func insertionPoint(secs []section, id byte) int {
	at := 0
	for i, s := range secs {
		if s.id != secCustom && sectionRank[s.id] < sectionRank[id] {
			at = i + 1
		}
	}
	return at
}

// putSection replaces the section with the given id by one with the given
// content, or inserts it where it belongs.
func putSection(secs []section, id byte, content []byte) ([]section, error) {
	if uint64(len(content)) > math.MaxUint32 {
		return nil, fmt.Errorf("wasmbin: rewritten section %d would be %d bytes, more than a section holds", id, len(content))
	}
	raw := appendULEB([]byte{id}, uint64(len(content)))
	raw = append(raw, content...)
	if i := findSection(secs, id); i >= 0 {
		secs[i].raw, secs[i].rebuilt = raw, true
		return secs, nil
	}
	at := insertionPoint(secs, id)
	start := headerLen
	if at < len(secs) {
		start = secs[at].start
	} else if at > 0 {
		// After the last section: where it ended in the input (an
		// inserted one has no content there, and starts where it goes).
		prev := secs[at-1]
		start = prev.start
		if prev.content != nil {
			start = prev.offset + len(prev.content)
		}
	}
	return slices.Insert(secs, at, section{id: id, raw: raw, start: start, rebuilt: true}), nil
}
