package fd

import (
	"errors"
	"math"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v25"
	"github.com/wasix-org/wasix-signals-go/wasix"
	"golang.org/x/sys/unix"
)

// errInterrupted ends a wait: a signal was delivered (EINTR).
var errInterrupted = errors.New("fd: interrupted")

// wait polls fds until one is ready, timeout passes (negative: never) or a
// signal interrupts the wait. It returns the descriptors' revents, with
// errInterrupted for a delivered signal or the terminal error when the
// process ended. A signal that is only dropped does not end the wait.
func (t *Table) wait(c wasmtime.Storelike, fds []unix.PollFd, timeout time.Duration) error {
	e := t.env
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	pfds := append(append(make([]unix.PollFd, 0, len(fds)+1), fds...), unix.PollFd{Fd: int32(t.wake[0]), Events: unix.POLLIN})
	stop, bridgeDone := make(chan struct{}), make(chan struct{})
	bridged := false
	defer func() {
		close(stop)
		if bridged {
			// Joined before returning, so that the bridge cannot take a
			// wake token meant for the guest's next wait (a sleep).
			<-bridgeDone
		}
	}()
	for {
		// Drain before looking: a signal queued after this point writes
		// the pipe again and wakes the poll.
		t.drainWake()
		interrupted, err := e.Interrupted(c)
		if err != nil {
			return err
		}
		if interrupted {
			return errInterrupted
		}
		if !bridged {
			// The env announces a deliverable signal on its wake channel;
			// this carries it into the poll. Started once per wait, only
			// when the wait may block.
			bridged = true
			go t.bridge(stop, bridgeDone)
		}
		ms, last := -1, false
		if timeout >= 0 {
			// A deadline already past still looks once (poll with a
			// zero timeout), so that a poll_oneoff whose clock is due at
			// once reports the descriptors that are ready.
			left := time.Until(deadline)
			last = left <= 0
			ms = int(min(max(left+time.Millisecond-1, 0)/time.Millisecond, math.MaxInt32))
		}
		for i := range pfds {
			pfds[i].Revents = 0
		}
		n, err := unix.Poll(pfds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		woke := pfds[len(pfds)-1].Revents != 0
		if n > 1 || n == 1 && !woke {
			copy(fds, pfds)
			return nil
		}
		if last {
			return nil
		}
		// Timed out or woken: deliver, then wait on unless interrupted
		// (a time-out returns at the next turn, after one more look).
	}
}

// bridge writes the wake pipe each time the env has a deliverable signal,
// until stop is closed.
func (t *Table) bridge(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-t.env.Wake():
			unix.Write(t.wake[1], []byte{1})
		}
	}
}

func (t *Table) drainWake() {
	var buf [64]byte
	for {
		if n, err := unix.Read(t.wake[0], buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// ready waits until the owned descriptor f can be read (events POLLIN) or
// written (POLLOUT) without blocking; revents says what happened.
func (t *Table) ready(c wasmtime.Storelike, f *file, events int16) (int16, error) {
	if !f.kind.mayBlock() {
		return events, nil
	}
	// Most calls find the descriptor ready: answer those with one poll.
	// Such a call is no wait, and no safe point either: a handler that
	// writes must not have the rest of its batch delivered inside it.
	pfd := []unix.PollFd{{Fd: int32(f.fd), Events: events}}
	if n, err := unix.Poll(pfd, 0); err == nil && n > 0 {
		return pfd[0].Revents, nil
	}
	if err := t.wait(c, pfd, -1); err != nil {
		return 0, err
	}
	return pfd[0].Revents, nil
}

// errAgain ends a non-blocking call that would wait (EAGAIN).
var errAgain = unix.EAGAIN

// readyOrAgain is ready for a descriptor the guest made non-blocking
// (fd_fdstat_set_flags): instead of waiting it fails with EAGAIN.
func (t *Table) readyOrAgain(c wasmtime.Storelike, f *file, events int16) (int16, error) {
	if !f.st.nonblock.Load() || !f.kind.mayBlock() {
		return t.ready(c, f, events)
	}
	pfd := []unix.PollFd{{Fd: int32(f.fd), Events: events}}
	if n, err := unix.Poll(pfd, 0); err != nil || n == 0 {
		return 0, errAgain
	}
	return pfd[0].Revents, nil
}

// errnoOf maps a host error to a WASI errno.
func errnoOf(err error) wasix.Errno {
	var no unix.Errno
	if !errors.As(err, &no) {
		return wasix.EIO
	}
	switch no {
	case unix.EAGAIN:
		return wasix.EAGAIN
	case unix.EBADF:
		return wasix.EBADF
	case unix.EINTR:
		return wasix.EINTR
	case unix.EINVAL:
		return wasix.EINVAL
	case unix.ENOSPC:
		return wasix.ENOSPC
	case unix.EPIPE:
		return wasix.EPIPE
	case unix.EFAULT:
		return wasix.EFAULT
	case unix.EMFILE, unix.ENFILE:
		return errMFILE
	}
	return wasix.EIO
}
