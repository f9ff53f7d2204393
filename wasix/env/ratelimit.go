package env

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// A guest can make every call to an import a bad one, and each bad call
// logs a warning: half a million bad calls would write a million lines.
// So warnings (and errors) of one process are rate limited per message:
// the first WarnBurst lines of a message pass, then at most one every
// WarnInterval, carrying "suppressed", the number of lines of that message
// left out since the previous one written. Close writes the last line left
// out of each message, counted the same way, so every warning is either
// written or counted.
// Lines below warn level (debug and trace, which say what happened to each
// signal) are never limited. The package comment says it for users.
const (
	WarnBurst    = 5
	WarnInterval = time.Second
)

// maxReasons bounds the messages limited one by one; overflowKey is the
// limit the messages past it share.
const (
	maxReasons  = 256
	overflowKey = "\x00other messages"
)

// WarnLimit sets the rate limit of a process's warnings. The zero value is
// WarnBurst lines, then one every WarnInterval; a negative Burst writes
// every warning (for an embedder whose handler limits them itself).
type WarnLimit struct {
	Burst    int
	Interval time.Duration
}

// limitHandler is the slog.Handler of a process's logger: it passes
// records to next, holding back repeated warnings.
type limitHandler struct {
	next  slog.Handler
	state *limitState // shared by the handlers WithAttrs and WithGroup make
}

type limitState struct {
	burst    int
	interval time.Duration

	mu      sync.Mutex
	reasons map[string]*reasonState // by message
}

type reasonState struct {
	passed     int       // lines written, up to the burst
	last       time.Time // time of the last line written
	suppressed int       // lines left out since then
	held       slog.Record
	heldTo     slog.Handler // where held would have gone
}

func newLimitHandler(next slog.Handler, l WarnLimit) *limitHandler {
	if l.Burst == 0 {
		l.Burst = WarnBurst
	}
	if l.Interval <= 0 {
		l.Interval = WarnInterval
	}
	return &limitHandler{next: next, state: &limitState{
		burst: l.Burst, interval: l.Interval, reasons: make(map[string]*reasonState),
	}}
}

func (h *limitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *limitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &limitHandler{next: h.next.WithAttrs(as), state: h.state}
}

func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{next: h.next.WithGroup(name), state: h.state}
}

func (h *limitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	s := h.state
	s.mu.Lock()
	key := r.Message
	if _, ok := s.reasons[key]; !ok && len(s.reasons) >= maxReasons {
		// Messages are meant to be constant; an embedder logging ever-new
		// ones through Logger shares one limit for all the new ones.
		key = overflowKey
	}
	rs := s.reasons[key]
	if rs == nil {
		rs = &reasonState{}
		s.reasons[key] = rs
	}
	switch {
	case rs.passed < s.burst:
		rs.passed++
	case r.Time.Sub(rs.last) >= s.interval:
		if rs.suppressed > 0 {
			r = r.Clone()
			r.AddAttrs(slog.Int("suppressed", rs.suppressed))
		}
		rs.suppressed, rs.held, rs.heldTo = 0, slog.Record{}, nil
	default:
		rs.suppressed++
		rs.held, rs.heldTo = r.Clone(), h.next
		s.mu.Unlock()
		return nil
	}
	rs.last = r.Time
	s.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// flush writes, for each message with suppressed lines, the last one left
// out, with the number left out before it, in message order.
func (h *limitHandler) flush() {
	s := h.state
	s.mu.Lock()
	var out []*reasonState
	for _, rs := range s.reasons {
		if rs.suppressed > 0 {
			held := *rs
			out = append(out, &held)
			rs.suppressed, rs.held, rs.heldTo = 0, slog.Record{}, nil
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].held.Message < out[j].held.Message })
	for _, rs := range out {
		r := rs.held
		if rs.suppressed > 1 {
			r.AddAttrs(slog.Int("suppressed", rs.suppressed-1))
		}
		_ = rs.heldTo.Handle(context.Background(), r)
	}
}
