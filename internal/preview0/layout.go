package preview0

import "encoding/binary"

// Sizes of the records whose layout differs between the snapshots.
const (
	FilestatSize             = 56 // wasi_unstable filestat: nlink is a u32
	Preview1FilestatSize     = 64 // preview1 filestat: nlink is a u64
	SubscriptionSize         = 56 // wasi_unstable subscription: the clock has an identifier
	Preview1SubscriptionSize = 48
	// EventSize is the size of an event record, the same in both snapshots.
	EventSize = 32
)

// Event types, the same in both snapshots.
const (
	EventClock   = 0
	EventFdRead  = 1
	EventFdWrite = 2
)

// Whence values of wasi_unstable (CloudABI's order) and of preview1
// (POSIX's order).
const (
	WhenceCur = 0
	WhenceEnd = 1
	WhenceSet = 2

	Preview1WhenceSet = 0
	Preview1WhenceCur = 1
	Preview1WhenceEnd = 2
)

// Whence converts a wasi_unstable whence to preview1's. ok is false for a
// value that names no whence in wasi_unstable.
func Whence(w uint32) (preview1 uint32, ok bool) {
	switch w {
	case WhenceCur:
		return Preview1WhenceCur, true
	case WhenceEnd:
		return Preview1WhenceEnd, true
	case WhenceSet:
		return Preview1WhenceSet, true
	}
	return 0, false
}

// Filestat converts a preview1 filestat (at least Preview1FilestatSize
// bytes) to the wasi_unstable layout. The fields are the same; nlink
// shrinks from 64 to 32 bits, saturating, and everything after it moves 8
// bytes down:
//
//	field     unstable  preview1
//	dev       0  u64    0  u64
//	ino       8  u64    8  u64
//	filetype  16 u8     16 u8
//	nlink     20 u32    24 u64
//	size      24 u64    32 u64
//	atim      32 u64    40 u64
//	mtim      40 u64    48 u64
//	ctim      48 u64    56 u64
func Filestat(p1 []byte) [FilestatSize]byte {
	var out [FilestatSize]byte
	copy(out[0:17], p1[0:17]) // dev, ino, filetype
	nlink := binary.LittleEndian.Uint64(p1[24:])
	binary.LittleEndian.PutUint32(out[20:], uint32(min(nlink, 1<<32-1)))
	copy(out[24:56], p1[32:64]) // size, atim, mtim, ctim
	return out
}

// Subscriptions converts wasi_unstable subscription records (a multiple of
// SubscriptionSize bytes) to preview1 records. A clock subscription loses
// its identifier, which no implementation reports back, and its other
// fields move 8 bytes down; a descriptor subscription keeps its layout:
//
//	field            unstable  preview1
//	userdata         0  u64    0  u64
//	tag              8  u8     8  u8
//	clock identifier 16 u64    -
//	clock id         24 u32    16 u32
//	clock timeout    32 u64    24 u64
//	clock precision  40 u64    32 u64
//	clock flags      48 u16    40 u16
//	fd               16 u32    16 u32
//
// A record with an unknown tag keeps its userdata and tag, so that preview1
// rejects it as it would its own.
func Subscriptions(unstable []byte) []byte {
	n := len(unstable) / SubscriptionSize
	out := make([]byte, n*Preview1SubscriptionSize)
	for i := range n {
		s := unstable[i*SubscriptionSize : (i+1)*SubscriptionSize]
		d := out[i*Preview1SubscriptionSize : (i+1)*Preview1SubscriptionSize]
		copy(d[0:9], s[0:9]) // userdata, tag
		switch s[8] {
		case EventClock:
			copy(d[16:42], s[24:50]) // id, padding, timeout, precision, flags
		case EventFdRead, EventFdWrite:
			copy(d[16:20], s[16:20])
		}
	}
	return out
}
