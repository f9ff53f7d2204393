package host

// Forwarding returns how many Forward registrations with os/signal are
// still in place.
func Forwarding() int32 { return forwarding.Load() }

// EpochCalls reports how many times p's epoch callback entered Go.
func EpochCalls(p *Process) uint64 { return p.async.Calls() }
