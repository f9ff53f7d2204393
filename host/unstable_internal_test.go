package host

import (
	"testing"

	"github.com/wasix-org/wasix-signals-go/internal/preview0"
)

// The wasi_unstable functions renamed at load time must have in preview1
// the signature they have in wasi_unstable.
func TestUnstableSignaturesMatchPreview1(t *testing.T) {
	for name, sig := range preview0.Functions {
		if got, ok := preview1[name]; !ok || got != sig {
			t.Errorf("%s: wasi_unstable %q, preview1 %q (defined: %v)", name, sig, got, ok)
		}
	}
}
