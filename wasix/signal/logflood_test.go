package signal_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wasix-org/wasix-signals-go/wasix/env"
)

// A guest that makes thousands of bad calls writes a handful of warnings
// per reason, not one per call; the lines held back are counted, and Close
// writes the count of the last ones.
func TestBadCallWarningsAreRateLimited(t *testing.T) {
	// An interval of an hour, so that a slow machine cannot let a line
	// through in the middle; the default burst.
	g := newGuest(t, guestOpts{cfg: env.Config{WarnLimit: env.WarnLimit{Interval: time.Hour}}, body: `
	  (local $i i32)
	  (loop $again
	    (drop (call $raise (i32.const -1)))
	    (drop (call $tid (i32.const -4)))
	    (local.set $i (i32.add (local.get $i) (i32.const 1)))
	    (br_if $again (i32.lt_u (local.get $i) (i32.const 5000))))`})
	if err := g.run(); err != nil {
		t.Fatal(err)
	}
	g.env.Close()
	type count struct{ Lines, Accounted int }
	got := map[string]count{}
	for _, l := range g.logs.all() {
		if l.Level < slog.LevelWarn {
			continue
		}
		c := got[l.Msg]
		c.Lines++
		c.Accounted++
		if s, ok := l.Attrs["suppressed"]; ok {
			var n int
			for _, d := range s {
				n = 10*n + int(d-'0')
			}
			c.Accounted += n
		}
		got[l.Msg] = c
	}
	// WarnBurst lines pass, then the last line held back comes at Close
	// with the count of the others.
	want := map[string]count{
		"proc_raise: signal number out of range":           {Lines: env.WarnBurst + 1, Accounted: 5000},
		"thread_id: pointer out of bounds of guest memory": {Lines: env.WarnBurst + 1, Accounted: 5000},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings per message (-want +got):\n%s", d)
	}
}
