package host

// EpochCalls reports how many times p's epoch callback entered Go.
func EpochCalls(p *Process) uint64 { return p.epochCalls.Load() }
