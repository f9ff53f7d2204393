package preview0_test

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wasix-org/wasix-signals-go/internal/preview0"
)

func TestWhence(t *testing.T) {
	tests := []struct {
		unstable uint32
		want     uint32
		ok       bool
	}{
		{preview0.WhenceCur, preview0.Preview1WhenceCur, true},
		{preview0.WhenceEnd, preview0.Preview1WhenceEnd, true},
		{preview0.WhenceSet, preview0.Preview1WhenceSet, true},
		{3, 0, false},
		{255, 0, false},
		{1 << 31, 0, false},
	}
	for _, tt := range tests {
		got, ok := preview0.Whence(tt.unstable)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Whence(%d) = %d, %v; want %d, %v", tt.unstable, got, ok, tt.want, tt.ok)
		}
	}
	// The numbers themselves, as the two witx files define them.
	if diff := cmp.Diff([]uint32{0, 1, 2, 1, 2, 0}, []uint32{
		preview0.WhenceCur, preview0.WhenceEnd, preview0.WhenceSet,
		preview0.Preview1WhenceCur, preview0.Preview1WhenceEnd, preview0.Preview1WhenceSet,
	}); diff != "" {
		t.Errorf("whence values (-want +got):\n%s", diff)
	}
}

// filestat is a decoded filestat, for comparing the two layouts.
type filestat struct {
	Dev, Ino         uint64
	Filetype         uint8
	Nlink            uint64
	Size             uint64
	Atim, Mtim, Ctim uint64
}

func encodePreview1(f filestat) []byte {
	b := make([]byte, preview0.Preview1FilestatSize)
	for i := range b {
		b[i] = 0xAA // padding shows if it leaks
	}
	le := binary.LittleEndian
	le.PutUint64(b[0:], f.Dev)
	le.PutUint64(b[8:], f.Ino)
	b[16] = f.Filetype
	le.PutUint64(b[24:], f.Nlink)
	le.PutUint64(b[32:], f.Size)
	le.PutUint64(b[40:], f.Atim)
	le.PutUint64(b[48:], f.Mtim)
	le.PutUint64(b[56:], f.Ctim)
	return b
}

func decodeUnstable(b [preview0.FilestatSize]byte) (filestat, []byte) {
	le := binary.LittleEndian
	return filestat{
		Dev: le.Uint64(b[0:]), Ino: le.Uint64(b[8:]), Filetype: b[16],
		Nlink: uint64(le.Uint32(b[20:])), Size: le.Uint64(b[24:]),
		Atim: le.Uint64(b[32:]), Mtim: le.Uint64(b[40:]), Ctim: le.Uint64(b[48:]),
	}, b[17:20]
}

func TestFilestat(t *testing.T) {
	tests := []struct {
		name string
		in   filestat
		want filestat
	}{
		{
			name: "every field moves to its place",
			in:   filestat{Dev: 0x0102030405060708, Ino: 0x1112131415161718, Filetype: 4, Nlink: 3, Size: 0x2122232425262728, Atim: 31, Mtim: 32, Ctim: 33},
			want: filestat{Dev: 0x0102030405060708, Ino: 0x1112131415161718, Filetype: 4, Nlink: 3, Size: 0x2122232425262728, Atim: 31, Mtim: 32, Ctim: 33},
		},
		{
			name: "nlink saturates at 32 bits",
			in:   filestat{Nlink: 1 << 40, Size: 1},
			want: filestat{Nlink: 1<<32 - 1, Size: 1},
		},
		{
			name: "largest nlink that fits",
			in:   filestat{Nlink: 1<<32 - 1},
			want: filestat{Nlink: 1<<32 - 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, padding := decodeUnstable(preview0.Filestat(encodePreview1(tt.in)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("filestat (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]byte{0, 0, 0}, padding); diff != "" {
				t.Errorf("padding after filetype (-want +got):\n%s", diff)
			}
		})
	}
}

// subscription is a decoded subscription of either layout.
type subscription struct {
	Userdata  uint64
	Tag       uint8
	ClockID   uint32
	Timeout   uint64
	Precision uint64
	Flags     uint16
	Fd        uint32
}

func encodeUnstable(subs ...subscription) []byte {
	le := binary.LittleEndian
	var out []byte
	for _, s := range subs {
		b := make([]byte, preview0.SubscriptionSize)
		le.PutUint64(b[0:], s.Userdata)
		b[8] = s.Tag
		if s.Tag == preview0.EventClock {
			le.PutUint64(b[16:], 0xDEADBEEFDEADBEEF) // identifier: dropped
			le.PutUint32(b[24:], s.ClockID)
			le.PutUint64(b[32:], s.Timeout)
			le.PutUint64(b[40:], s.Precision)
			le.PutUint16(b[48:], s.Flags)
		} else {
			le.PutUint32(b[16:], s.Fd)
		}
		out = append(out, b...)
	}
	return out
}

func decodePreview1(b []byte) []subscription {
	le := binary.LittleEndian
	var out []subscription
	for ; len(b) >= preview0.Preview1SubscriptionSize; b = b[preview0.Preview1SubscriptionSize:] {
		s := subscription{Userdata: le.Uint64(b[0:]), Tag: b[8]}
		switch s.Tag {
		case preview0.EventClock:
			s.ClockID, s.Timeout, s.Precision, s.Flags = le.Uint32(b[16:]), le.Uint64(b[24:]), le.Uint64(b[32:]), le.Uint16(b[40:])
		default:
			s.Fd = le.Uint32(b[16:])
		}
		out = append(out, s)
	}
	return out
}

func TestSubscriptions(t *testing.T) {
	tests := []struct {
		name string
		in   []subscription
		want []subscription
	}{
		{
			name: "relative clock",
			in:   []subscription{{Userdata: 7, Tag: preview0.EventClock, ClockID: 1, Timeout: 5_000_000, Precision: 1000}},
			want: []subscription{{Userdata: 7, Tag: preview0.EventClock, ClockID: 1, Timeout: 5_000_000, Precision: 1000}},
		},
		{
			name: "absolute clock, then descriptors",
			in: []subscription{
				{Userdata: 1, Tag: preview0.EventClock, ClockID: 0, Timeout: 1 << 62, Flags: 1},
				{Userdata: 2, Tag: preview0.EventFdRead, Fd: 0},
				{Userdata: 3, Tag: preview0.EventFdWrite, Fd: 1},
			},
			want: []subscription{
				{Userdata: 1, Tag: preview0.EventClock, ClockID: 0, Timeout: 1 << 62, Flags: 1},
				{Userdata: 2, Tag: preview0.EventFdRead, Fd: 0},
				{Userdata: 3, Tag: preview0.EventFdWrite, Fd: 1},
			},
		},
		{
			name: "unknown tag keeps userdata and tag only",
			in:   []subscription{{Userdata: 9, Tag: 7, Fd: 5}},
			want: []subscription{{Userdata: 9, Tag: 7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := preview0.Subscriptions(encodeUnstable(tt.in...))
			if len(out) != len(tt.in)*preview0.Preview1SubscriptionSize {
				t.Fatalf("%d bytes for %d subscriptions", len(out), len(tt.in))
			}
			if diff := cmp.Diff(tt.want, decodePreview1(out)); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
		})
	}
	if got := preview0.Subscriptions(make([]byte, preview0.SubscriptionSize-1)); len(got) != 0 {
		t.Errorf("a partial record gave %d bytes", len(got))
	}
}

func TestTarget(t *testing.T) {
	const (
		p1    = preview0.Preview1Module
		trans = preview0.TranslatedModule
	)
	tests := []struct {
		name, sig string
		want      string
	}{
		{"fd_write", "iiii:i", p1},
		{"fd_write", "iii:i", ""},
		{"proc_exit", "i:", p1},
		{"args_get", "ii:i", p1},
		{"fd_seek", "iIii:i", trans},
		{"fd_seek", "iiii:i", ""},
		{"fd_filestat_get", "ii:i", trans},
		{"path_filestat_get", "iiiii:i", trans},
		{"poll_oneoff", "iiii:i", trans},
		{"poll_oneoff", "iiii:", ""},
		{"sock_accept", "iii:i", ""}, // preview1 only
		{"thread_spawn", "i:i", ""},
	}
	for _, tt := range tests {
		if got := preview0.Target(tt.name, tt.sig); got != tt.want {
			t.Errorf("Target(%q, %q) = %q, want %q", tt.name, tt.sig, got, tt.want)
		}
	}
	for _, name := range preview0.Translated {
		if _, ok := preview0.Functions[name]; !ok {
			t.Errorf("translated %s is not a wasi_unstable function", name)
		}
	}
}
