package host

import (
	"os"
	ossignal "os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/wasix-org/wasix-signals-go/wasix"
)

// hostSignals maps the host's signals to WASIX by name, not by number: the
// numbers differ between operating systems (SIGUSR1 is 10 on Linux and 30
// on macOS); the names do not.
var hostSignals = map[syscall.Signal]wasix.Signal{
	syscall.SIGHUP: wasix.SIGHUP, syscall.SIGINT: wasix.SIGINT, syscall.SIGQUIT: wasix.SIGQUIT,
	syscall.SIGABRT: wasix.SIGABRT, syscall.SIGUSR1: wasix.SIGUSR1, syscall.SIGUSR2: wasix.SIGUSR2,
	syscall.SIGPIPE: wasix.SIGPIPE, syscall.SIGALRM: wasix.SIGALRM, syscall.SIGTERM: wasix.SIGTERM,
	syscall.SIGCHLD: wasix.SIGCHLD, syscall.SIGCONT: wasix.SIGCONT, syscall.SIGTSTP: wasix.SIGTSTP,
	syscall.SIGTTIN: wasix.SIGTTIN, syscall.SIGTTOU: wasix.SIGTTOU, syscall.SIGURG: wasix.SIGURG,
	syscall.SIGXCPU: wasix.SIGXCPU, syscall.SIGXFSZ: wasix.SIGXFSZ, syscall.SIGVTALRM: wasix.SIGVTALRM,
	syscall.SIGPROF: wasix.SIGPROF, syscall.SIGWINCH: wasix.SIGWINCH,
}

// FromHost returns the WASIX signal with the same name as a host signal.
func FromHost(s os.Signal) (wasix.Signal, bool) {
	hs, ok := s.(syscall.Signal)
	if !ok {
		return 0, false
	}
	w, ok := hostSignals[hs]
	return w, ok
}

// Forward relays the named host signals to the guest until the returned
// stop function is called or the program ends, in the manner of
// os/signal.Notify: only the signals given are caught, and nothing is
// installed process-wide otherwise. Signals without a WASIX equivalent are
// ignored. A SIGINT that arrives while the previous one is still pending
// in the guest sends SIGKILL instead: pressing Ctrl-C twice stops a guest
// that does not take its signals. After stop returns, nothing more is
// relayed. To catch signals from before the guest starts, use
// Config.Signals instead.
func (p *Process) Forward(sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 16)
	ossignal.Notify(ch, sigs...)
	forwarding.Add(1)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		p.relay(ch, quit)
		// Whether stop was called or the program ended, the host stops
		// catching these signals for it.
		ossignal.Stop(ch)
		forwarding.Add(-1)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-finished
		})
	}
}

// forwarding counts the os/signal registrations of Forward still in
// place, for tests.
var forwarding atomic.Int32

// relay passes host signals from ch to the guest until quit is closed or
// the program ends.
func (p *Process) relay(ch <-chan os.Signal, quit <-chan struct{}) {
	for {
		select {
		case <-quit:
			return
		case <-p.done:
			return
		case s := <-ch:
			sig, ok := FromHost(s)
			if !ok {
				continue
			}
			if sig == wasix.SIGINT && p.env.Pending(wasix.SIGINT) {
				sig = wasix.SIGKILL
			}
			_ = p.Signal(sig)
		}
	}
}
