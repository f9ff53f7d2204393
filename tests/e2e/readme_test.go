package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeUseIt: what the README's "Use it" section tells a newcomer to
// type is true: the module path to go get, the build command, and the exit
// status it promises for raise_exit.
func TestReadmeUseIt(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)`).FindSubmatch(gomod)[1]
	text := string(readme)
	for _, want := range []string{
		"go get " + string(module) + "\n",
		"go build -o wasix-run ./cmd/wasix-run",
		"./wasix-run fixtures/raise_exit.wasm 15 raw; echo $?   # 143",
		"kill -USR1 $!",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	if i, j := strings.Index(text, "go run ./cmd/wasix-run"), strings.Index(text, "go build -o wasix-run"); i >= 0 && i < j {
		t.Errorf("README.md shows go run before building the runner")
	}
	r := runCLI(t, fixture("raise_exit.wasm"), "15", "raw")
	if r.code != 143 {
		t.Errorf("raise_exit.wasm 15 raw: exit status %d, the README says 143", r.code)
	}
}
