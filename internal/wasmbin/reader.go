package wasmbin

import (
	"fmt"
	"unicode/utf8"
)

// A FormatError reports a malformed binary: the offset in the module where
// decoding stopped and why.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wasmbin: malformed binary at offset %#x: %s", e.Offset, e.Msg)
}

// reader decodes the primitives of the binary format. Every method checks
// its reads against the bytes left, so no length taken from the input can
// make it read past the end or allocate more than the input holds.
type reader struct {
	buf  []byte
	off  int // next byte to read in buf
	base int // offset of buf[0] in the module, for errors
}

func (r *reader) errorAt(off int, format string, args ...any) error {
	return &FormatError{Offset: r.base + off, Msg: fmt.Sprintf(format, args...)}
}

func (r *reader) done() bool { return r.off >= len(r.buf) }

// end reports an error unless every byte of buf was consumed: a section whose
// declared size and content disagree is malformed.
func (r *reader) end(what string) error {
	if left := len(r.buf) - r.off; left != 0 {
		return r.errorAt(r.off, "%s: %d bytes left over after the last entry", what, left)
	}
	return nil
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.buf) {
		return 0, r.errorAt(r.off, "unexpected end of input")
	}
	b := r.buf[r.off]
	r.off++
	return b, nil
}

func (r *reader) peek() (byte, error) {
	if r.off >= len(r.buf) {
		return 0, r.errorAt(r.off, "unexpected end of input")
	}
	return r.buf[r.off], nil
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

// uleb decodes an unsigned LEB128 number of at most bits bits: at most
// ceil(bits/7) bytes, and the unused high bits of the last one zero.
func (r *reader) uleb(bits uint) (uint64, error) {
	start := r.off
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if r.off >= len(r.buf) {
			return 0, r.errorAt(start, "unexpected end of input in LEB128 number")
		}
		b := r.buf[r.off]
		r.off++
		v |= uint64(b&0x7f) << shift
		if shift+7 >= bits {
			if b>>(bits-shift) != 0 {
				return 0, r.errorAt(start, "LEB128 number too long or overflows u%d", bits)
			}
			return v, nil
		}
		if b&0x80 == 0 {
			return v, nil
		}
	}
}

// s33 skips a signed 33-bit LEB128 number (a heap type): at most 5 bytes,
// the bits above bit 32 of the last one copies of the sign bit.
func (r *reader) s33() error {
	start := r.off
	for i := 0; ; i++ {
		b, err := r.byte()
		if err != nil {
			return r.errorAt(start, "unexpected end of input in LEB128 number")
		}
		if i == 4 {
			if b&0x80 != 0 || (b&0x70 != 0 && b&0x70 != 0x70) {
				return r.errorAt(start, "LEB128 number too long or overflows s33")
			}
			return nil
		}
		if b&0x80 == 0 {
			return nil
		}
	}
}

// bytes returns the next n bytes, which must all be there.
func (r *reader) bytes(n uint32, what string) ([]byte, error) {
	if left := len(r.buf) - r.off; uint64(n) > uint64(left) {
		return nil, r.errorAt(r.off, "%s of %d bytes runs past the end (%d bytes left)", what, n, left)
	}
	b := r.buf[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// name decodes a length-prefixed UTF-8 string.
func (r *reader) name() (string, error) {
	start := r.off
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n, "name")
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", r.errorAt(start, "name is not valid UTF-8")
	}
	return string(b), nil
}

// valType decodes a value type. References with a concrete heap type keep
// only their leading byte (see ValType).
func (r *reader) valType() (ValType, error) {
	start := r.off
	b, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case b >= 0x7b && b <= 0x7f, b >= 0x68 && b <= 0x75:
		return ValType(b), nil
	case b == 0x63 || b == 0x64:
		return ValType(b), r.s33()
	}
	return 0, r.errorAt(start, "unknown value type %#x", b)
}

// readLimits decodes the limits of a memory or table type.
func (r *reader) readLimits() (limits, error) {
	start := r.off
	flags, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	if flags&^limitsKnown != 0 {
		return limits{}, r.errorAt(start, "unknown limits flags %#x", flags)
	}
	l := limits{hasMax: flags&limitsHasMax != 0, shared: flags&limitsShared != 0, is64: flags&limits64 != 0}
	bits := uint(32)
	if l.is64 {
		bits = 64
	}
	if l.min, err = r.uleb(bits); err != nil {
		return limits{}, err
	}
	if l.hasMax {
		if l.max, err = r.uleb(bits); err != nil {
			return limits{}, err
		}
	}
	if flags&limitsPageSize != 0 {
		if _, err := r.u32(); err != nil {
			return limits{}, err
		}
	}
	return l, nil
}

// limits are those of a memory or table type.
type limits struct {
	min, max             uint64
	hasMax, shared, is64 bool
}

// Bits of the limits flags byte: threads (shared), memory64 and
// custom-page-sizes proposals.
const (
	limitsHasMax   = 0x01
	limitsShared   = 0x02
	limits64       = 0x04
	limitsPageSize = 0x08
	limitsKnown    = limitsHasMax | limitsShared | limits64 | limitsPageSize
)

// appendULEB appends v as unsigned LEB128 in the fewest bytes.
func appendULEB(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, s string) []byte {
	return append(appendULEB(b, uint64(len(s))), s...)
}
