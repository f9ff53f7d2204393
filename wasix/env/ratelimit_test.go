package env

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lines is a slog.Handler that keeps each record as "LEVEL msg k=v ...".
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.got = append(l.got, b.String())
	l.mu.Unlock()
	return nil
}

func TestWarningsAreRateLimitedPerMessage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type entry struct {
		at    time.Duration
		level slog.Level
		msg   string
		n     int // the value of attribute n
	}
	var in []entry
	// 12 lines of "a" within half a second, 3 of "b", 4 debug lines of "a".
	for i := range 12 {
		in = append(in, entry{at: time.Duration(i) * 40 * time.Millisecond, level: slog.LevelWarn, msg: "a", n: i})
	}
	for i := range 3 {
		in = append(in, entry{at: time.Duration(i) * time.Millisecond, level: slog.LevelWarn, msg: "b", n: i})
	}
	for i := range 4 {
		in = append(in, entry{at: time.Duration(i) * time.Millisecond, level: slog.LevelDebug, msg: "a", n: 100 + i})
	}
	// One second after the fifth "a" (at 160 ms): passes with the count.
	in = append(in, entry{at: 1160 * time.Millisecond, level: slog.LevelWarn, msg: "a", n: 12})
	in = append(in, entry{at: 1200 * time.Millisecond, level: slog.LevelWarn, msg: "a", n: 13})
	in = append(in, entry{at: 1300 * time.Millisecond, level: slog.LevelError, msg: "a", n: 14})

	rec := &lines{}
	h := newLimitHandler(rec, WarnLimit{})
	for _, e := range in {
		r := slog.NewRecord(t0.Add(e.at), e.level, e.msg, 0)
		r.AddAttrs(slog.Int("n", e.n))
		if err := h.WithAttrs(nil).Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	h.flush()
	h.flush() // a second flush has nothing left to write
	want := []string{
		"WARN a n=0", "WARN a n=1", "WARN a n=2", "WARN a n=3", "WARN a n=4",
		"WARN b n=0", "WARN b n=1", "WARN b n=2",
		"DEBUG a n=100", "DEBUG a n=101", "DEBUG a n=102", "DEBUG a n=103",
		"WARN a n=12 suppressed=7",
		// flushed: the last line held back, with the number held back before it.
		"ERROR a n=14 suppressed=1",
	}
	if d := cmp.Diff(want, rec.got); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
}

// Many goroutines warning at once: every line is either written or
// counted, none lost and none twice (run with -race).
func TestRateLimitConcurrent(t *testing.T) {
	rec := &lines{}
	h := newLimitHandler(rec, WarnLimit{})
	log := slog.New(h)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				log.Warn("bad")
			}
		}()
	}
	wg.Wait()
	h.flush()
	total := 0
	for _, l := range rec.got {
		n := 0
		if _, s, ok := strings.Cut(l, "suppressed="); ok {
			fmt.Sscan(s, &n)
			if !strings.HasPrefix(l, "WARN bad suppressed=") {
				t.Fatalf("line %q", l)
			}
		}
		total += 1 + n
	}
	if total != goroutines*each {
		t.Errorf("%d lines accounted for, want %d: %q", total, goroutines*each, rec.got)
	}
	if len(rec.got) > WarnBurst+3 {
		t.Errorf("%d lines written, want at most about %d: %q", len(rec.got), WarnBurst+1, rec.got)
	}
}

// A logger fed ever-new messages keeps a bounded state: past maxReasons
// messages, the new ones share one limit.
func TestRateLimitBoundsMessages(t *testing.T) {
	rec := &lines{}
	h := newLimitHandler(rec, WarnLimit{Interval: time.Hour})
	log := slog.New(h)
	for i := range 10 * maxReasons {
		log.Warn(fmt.Sprint("message ", i))
	}
	h.flush()
	if n := len(h.state.reasons); n != maxReasons+1 {
		t.Errorf("%d messages tracked, want %d", n, maxReasons+1)
	}
	total := 0
	for _, l := range rec.got {
		n := 0
		if _, s, ok := strings.Cut(l, "suppressed="); ok {
			fmt.Sscan(s, &n)
		}
		total += 1 + n
	}
	if want := maxReasons + WarnBurst + 1; len(rec.got) != want || total != 10*maxReasons {
		t.Errorf("%d lines accounting for %d, want %d lines accounting for %d", len(rec.got), total, want, 10*maxReasons)
	}
}
