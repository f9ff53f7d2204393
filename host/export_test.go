package host

// Forwarding returns how many Forward registrations with os/signal are
// still in place.
func Forwarding() int32 { return forwarding.Load() }
