package fd

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
	"golang.org/x/sys/unix"
)

// Subscription and event layouts of WASI preview1 poll_oneoff.
const (
	subscriptionSize = 48
	eventSize        = 32
	eventClock       = 0
	eventFdRead      = 1
	eventFdWrite     = 2
	abstime          = 1
	eventHangup      = 1
)

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents): see Poll.
func (ly *layer) pollOneoff(c *wasmtime.Caller, e *env.WasiEnv, a []wasmtime.Val) (wasix.Errno, error) {
	in, out, n, neventsPtr := u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3])
	if n == 0 {
		return wasix.EINVAL, nil
	}
	subs, ok := e.Read(c, in, n*subscriptionSize)
	if !ok {
		return e.FaultErrno(), nil
	}
	subs = append([]byte(nil), subs...)
	if _, ok := e.Read(c, out, n*eventSize); !ok {
		return e.FaultErrno(), nil
	}
	return Poll(c, e, subs, out, neventsPtr, func() (wasix.Errno, error) {
		// wasmtime's poll traps on misaligned records; answer instead.
		if in%8 != 0 || out%8 != 0 || neventsPtr%4 != 0 {
			return wasix.EINVAL, nil
		}
		errno, err := forward(c, e, ly.engine, "poll_oneoff", a[0].I32(), a[1].I32(), a[2].I32(), a[3].I32())
		if err != nil {
			return 0, err
		}
		return errno, e.ProcessSignals(c)
	})
}

// Poll serves poll_oneoff for subscriptions already read from the guest,
// in the preview1 layout (wasi_unstable's are converted first). Clocks and
// owned descriptors are waited on here, interruptibly: a delivered signal
// ends the wait with EINTR and no events. Owned descriptors mixed with
// wasmtime's files (regular files, directories), which are always ready,
// are answered here without waiting: an event for each file, and the owned
// descriptors that are ready. A call with no owned descriptor, or with a
// descriptor of wasmtime's of another kind, goes to descriptors
// (wasmtime's own poll_oneoff), whose wait no signal interrupts: the
// signal arrives when it returns. Events go to out in guest memory, their
// count to neventsPtr.
func Poll(c *wasmtime.Caller, e *env.WasiEnv, subs []byte, out, neventsPtr uint64, descriptors func() (wasix.Errno, error)) (wasix.Errno, error) {
	n := uint64(len(subs)) / subscriptionSize
	if n == 0 {
		return wasix.EINVAL, nil
	}
	t := Lookup(e)
	var fds []unix.PollFd
	var fdSub []int   // subscription index of each fds entry
	var theirs []byte // the subscriptions on wasmtime's descriptors
	for i := uint64(0); i < n; i++ {
		s := subs[i*subscriptionSize:]
		tag := s[8]
		if tag == eventClock {
			continue
		}
		if t == nil || tag != eventFdRead && tag != eventFdWrite {
			return descriptors()
		}
		f := t.get(int32(binary.LittleEndian.Uint32(s[16:])))
		if f == nil {
			theirs = append(theirs, s[:subscriptionSize]...)
			continue
		}
		ev := int16(unix.POLLIN)
		if tag == eventFdWrite {
			ev = unix.POLLOUT
		}
		fds = append(fds, unix.PollFd{Fd: int32(f.fd), Events: ev})
		fdSub = append(fdSub, int(i))
	}
	if len(theirs) > 0 && len(fds) == 0 {
		return descriptors()
	}
	now := time.Now()
	wait := time.Duration(math.MaxInt64)
	deadlines := make([]time.Duration, n)
	for i := range deadlines {
		s := subs[i*subscriptionSize:]
		deadlines[i] = -1
		if s[8] != eventClock {
			continue
		}
		timeout := binary.LittleEndian.Uint64(s[24:])
		d := env.Duration(timeout, time.Nanosecond)
		if binary.LittleEndian.Uint16(s[40:])&abstime != 0 {
			d = absoluteToRelative(binary.LittleEndian.Uint32(s[16:]), timeout, now, e)
		}
		deadlines[i] = d
		wait = min(wait, d)
	}
	var theirEvents []byte
	switch {
	case len(theirs) > 0:
		// Their files are ready: take what the owned descriptors have
		// without waiting.
		ready, ok, err := alwaysReady(c, e, theirs)
		if err != nil {
			return 0, err
		}
		if !ok {
			return descriptors()
		}
		for {
			if _, perr := unix.Poll(fds, 0); !errors.Is(perr, unix.EINTR) {
				break
			}
		}
		theirEvents, wait = ready, time.Since(now)
	case len(fds) == 0:
		errno, err := e.Sleep(c, wait)
		if err != nil || errno != wasix.ESUCCESS {
			return errno, err
		}
	default:
		timeout := time.Duration(-1)
		if wait != math.MaxInt64 {
			timeout = wait
		}
		if errno, err := waitResult(t.wait(c, fds, timeout)); err != nil || errno != 0 {
			return errno, err
		}
		wait = time.Since(now)
	}
	events := make([]byte, 0, n*eventSize)
	for i, d := range deadlines {
		if d < 0 || d > wait {
			continue
		}
		var ev [eventSize]byte
		copy(ev[0:8], subs[i*subscriptionSize:]) // userdata
		ev[10] = eventClock
		events = append(events, ev[:]...)
	}
	for j, p := range fds {
		if p.Revents == 0 {
			continue
		}
		s := subs[fdSub[j]*subscriptionSize:]
		var ev [eventSize]byte
		copy(ev[0:8], s[0:8])
		ev[10] = s[8]
		switch {
		case p.Revents&unix.POLLNVAL != 0:
			binary.LittleEndian.PutUint16(ev[8:], uint16(wasix.EBADF))
		case p.Revents&(unix.POLLERR|unix.POLLHUP) != 0 && p.Revents&unix.POLLIN == 0:
			binary.LittleEndian.PutUint16(ev[24:], eventHangup)
		default:
			if s[8] == eventFdRead {
				if avail, err := unix.IoctlGetInt(int(p.Fd), unix.TIOCINQ); err == nil && avail > 0 {
					binary.LittleEndian.PutUint64(ev[16:], uint64(avail))
				}
			}
		}
		events = append(events, ev[:]...)
	}
	events = append(events, theirEvents...)
	if !e.Write(c, out, events) || !e.WriteUint32(c, neventsPtr, uint32(len(events)/eventSize)) {
		return e.FaultErrno(), nil
	}
	return wasix.ESUCCESS, nil
}

// alwaysReady answers the subscriptions on wasmtime's descriptors
// (theirs) when they are all regular files, directories or block devices,
// which poll(2) reports ready at once: an event each, without error, with
// nbytes 0 (unknown). ok is false when one is anything else or not
// wasmtime's either; the caller then hands the call to wasmtime whole.
func alwaysReady(c wasmtime.Storelike, e *env.WasiEnv, theirs []byte) (events []byte, ok bool, err error) {
	for i := 0; i+subscriptionSize <= len(theirs); i += subscriptionSize {
		s := theirs[i:]
		kind, errno, err := wasmtimeFiletype(c, e, int32(binary.LittleEndian.Uint32(s[16:])))
		if err != nil || errno != wasix.ESUCCESS {
			return nil, false, err
		}
		switch kind {
		case filetypeBlockDev, filetypeDirectory, filetypeRegular:
		default:
			return nil, false, nil
		}
		var ev [eventSize]byte
		copy(ev[0:8], s[0:8]) // userdata
		ev[10] = s[8]
		events = append(events, ev[:]...)
	}
	return events, true, nil
}

// absoluteToRelative converts an absolute clock deadline: realtime is Unix
// time; the monotonic clock of wasmtime's WASI counts from the store's
// creation, which the env's creation time approximates.
func absoluteToRelative(clock uint32, deadline uint64, now time.Time, e *env.WasiEnv) time.Duration {
	var current int64
	if clock == 0 {
		current = now.UnixNano()
	} else {
		current = int64(now.Sub(e.Created()))
	}
	if int64(deadline) <= current || deadline > math.MaxInt64 {
		if deadline > math.MaxInt64 {
			return math.MaxInt64
		}
		return 0
	}
	return time.Duration(int64(deadline) - current)
}
