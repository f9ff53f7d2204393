package wasmbin

import "fmt"

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secMemory    = 5
	secExport    = 7
	secTag       = 13
	secLastKnown = secTag
)

// sectionRank gives the position each non-custom section must keep in a
// module, by id: the ids are not in order (tag and datacount came later).
var sectionRank = [secLastKnown + 1]int{
	1:  1,  // type
	2:  2,  // import
	3:  3,  // function
	4:  4,  // table
	5:  5,  // memory
	13: 6,  // tag
	6:  7,  // global
	7:  8,  // export
	8:  9,  // start
	9:  10, // element
	12: 11, // datacount
	10: 12, // code
	11: 13, // data
}

// section is one section of a module as it is in the input.
type section struct {
	id      byte
	raw     []byte // id, size and content
	content []byte
	offset  int  // of content in the module
	start   int  // of the section (its id byte) in the module; where an inserted one goes
	rebuilt bool // raw was made by Rewrite, not copied
}

func (s section) reader() *reader { return &reader{buf: s.content, base: s.offset} }

var (
	magic   = []byte("\x00asm")
	version = []byte{1, 0, 0, 0}
)

const headerLen = 8

// splitSections checks the header and the framing of every section (sizes,
// known ids, order, custom section names) and returns the sections.
func splitSections(wasm []byte) ([]section, error) {
	r := &reader{buf: wasm}
	if len(wasm) < headerLen || string(wasm[:4]) != string(magic) {
		return nil, r.errorAt(0, "not a wasm binary (no \\0asm header)")
	}
	if string(wasm[4:headerLen]) != string(version) {
		return nil, r.errorAt(4, "unsupported binary version % x (a component?)", wasm[4:headerLen])
	}
	r.off = headerLen
	var secs []section
	lastRank := 0
	for !r.done() {
		start := r.off
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		content, err := r.bytes(size, "section")
		if err != nil {
			return nil, err
		}
		s := section{id: id, raw: wasm[start:r.off:r.off], content: content, offset: r.off - len(content), start: start}
		if id == secCustom {
			if _, err := s.reader().name(); err != nil {
				return nil, err
			}
		} else {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return nil, r.errorAt(start, "unknown section id %d", id)
			}
			if sectionRank[id] <= lastRank {
				return nil, r.errorAt(start, "section id %d repeated or out of order", id)
			}
			lastRank = sectionRank[id]
		}
		secs = append(secs, s)
	}
	return secs, nil
}

// findSection returns the index of the section with the given id, or -1.
func findSection(secs []section, id byte) int {
	for i, s := range secs {
		if s.id == id {
			return i
		}
	}
	return -1
}

// importEntry is one decoded import.
type importEntry struct {
	module, name string
	kind         ExternKind
	raw          []byte // the whole entry
	rest         []byte // the entry from the field name on: what a rename keeps
	offset       int    // of the entry in the module
	typeIndex    uint32 // functions
	memory       limits // memories
	memoryRaw    []byte // memories: flags, limits and page size as encoded
}

func parseImports(s section) ([]importEntry, error) {
	r := s.reader()
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var imports []importEntry
	for range n {
		start := r.off
		var im importEntry
		if im.module, err = r.name(); err != nil {
			return nil, err
		}
		restStart := r.off
		if im.name, err = r.name(); err != nil {
			return nil, err
		}
		kindAt := r.off
		k, err := r.byte()
		if err != nil {
			return nil, err
		}
		im.kind = ExternKind(k)
		switch im.kind {
		case KindFunc:
			im.typeIndex, err = r.u32()
		case KindTable:
			if _, err = r.valType(); err == nil {
				_, err = r.readLimits()
			}
		case KindMemory:
			memStart := r.off
			im.memory, err = r.readLimits()
			im.memoryRaw = r.buf[memStart:r.off:r.off]
		case KindGlobal:
			err = r.globalType()
		case KindTag:
			err = r.tagType()
		default:
			return nil, r.errorAt(kindAt, "import %q %q: unknown kind %#x", im.module, im.name, k)
		}
		if err != nil {
			return nil, err
		}
		im.raw = r.buf[start:r.off:r.off]
		im.rest = r.buf[restStart:r.off:r.off]
		im.offset = r.base + start
		imports = append(imports, im)
	}
	return imports, r.end("import section")
}

func (r *reader) globalType() error {
	if _, err := r.valType(); err != nil {
		return err
	}
	return r.mutability("global")
}

// mutability reads a mutability flag (0 or 1) of a global or a field.
func (r *reader) mutability(of string) error {
	start := r.off
	mut, err := r.byte()
	if err != nil {
		return err
	}
	if mut > 1 {
		return r.errorAt(start, "unknown %s mutability %#x", of, mut)
	}
	return nil
}

func (r *reader) tagType() error {
	start := r.off
	attr, err := r.byte()
	if err != nil {
		return err
	}
	if attr != 0 {
		return r.errorAt(start, "unknown tag attribute %#x", attr)
	}
	_, err = r.u32()
	return err
}

// countMemories decodes a memory section and returns its number of entries.
func countMemories(s section) (int, error) {
	r := s.reader()
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	for range n {
		if _, err := r.readLimits(); err != nil {
			return 0, err
		}
	}
	return int(n), r.end("memory section")
}

// exports is a decoded export section.
type exports struct {
	count   uint32
	entries []byte // every entry, as encoded after the count
	names   map[string]bool
}

func parseExports(s section) (exports, error) {
	r := s.reader()
	n, err := r.u32()
	if err != nil {
		return exports{}, err
	}
	e := exports{count: n, entries: r.buf[r.off:], names: make(map[string]bool)}
	for range n {
		name, err := r.name()
		if err != nil {
			return exports{}, err
		}
		// Every kind, known or not, is a kind byte and an index.
		if _, err := r.byte(); err != nil {
			return exports{}, err
		}
		if _, err := r.u32(); err != nil {
			return exports{}, err
		}
		e.names[name] = true
	}
	return e, r.end("export section")
}

// parseTypes decodes a type section into one entry per type index: the
// function type, or nil for the other composite types of the GC proposal.
func parseTypes(s section) ([]*FuncType, error) {
	r := s.reader()
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var types []*FuncType
	for range n {
		b, err := r.peek()
		if err != nil {
			return nil, err
		}
		if b != 0x4e { // not a recursion group: a single subtype
			ft, err := r.subType()
			if err != nil {
				return nil, err
			}
			types = append(types, ft)
			continue
		}
		r.off++
		m, err := r.u32()
		if err != nil {
			return nil, err
		}
		for range m {
			ft, err := r.subType()
			if err != nil {
				return nil, err
			}
			types = append(types, ft)
		}
	}
	return types, r.end("type section")
}

func (r *reader) subType() (*FuncType, error) {
	b, err := r.peek()
	if err != nil {
		return nil, err
	}
	if b == 0x50 || b == 0x4f { // sub, sub final: supertype indices first
		r.off++
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		for range n {
			if _, err := r.u32(); err != nil {
				return nil, err
			}
		}
	}
	start := r.off
	b, err = r.byte()
	if err != nil {
		return nil, err
	}
	switch b {
	case 0x60:
		var ft FuncType
		if ft.Params, err = r.valTypes(); err != nil {
			return nil, err
		}
		if ft.Results, err = r.valTypes(); err != nil {
			return nil, err
		}
		return &ft, nil
	case 0x5f: // struct
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		for range n {
			if err := r.fieldType(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case 0x5e: // array
		return nil, r.fieldType()
	}
	return nil, r.errorAt(start, "unknown composite type %#x", b)
}

func (r *reader) valTypes() ([]ValType, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var ts []ValType
	for range n {
		t, err := r.valType()
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func (r *reader) fieldType() error {
	b, err := r.peek()
	if err != nil {
		return err
	}
	if b == 0x78 || b == 0x77 { // packed i8, i16
		r.off++
	} else if _, err := r.valType(); err != nil {
		return err
	}
	return r.mutability("field")
}

// funcType returns the function type of a function import.
func funcType(types []*FuncType, im importEntry) (*FuncType, error) {
	var msg string
	switch {
	case uint64(im.typeIndex) >= uint64(len(types)):
		msg = "type index out of range"
	case types[im.typeIndex] == nil:
		msg = "type is not a function type"
	default:
		return types[im.typeIndex], nil
	}
	return nil, &FormatError{Offset: im.offset, Msg: fmt.Sprintf("import %q %q: %s", im.module, im.name, msg)}
}
