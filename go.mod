module github.com/wasix-org/wasix-signals-go

go 1.26.8

require (
	github.com/bytecodealliance/wasmtime-go/v25 v25.0.0
	github.com/google/go-cmp v0.7.0
	golang.org/x/sys v0.50.0
)

require github.com/creack/pty v1.1.24
