package preview0

import "slices"

// Module is the import module of the first WASI snapshot.
const Module = "wasi_unstable"

// TranslatedModule is where Imports defines the Translated functions. At
// load time their imports move there from wasi_unstable when their
// signature is right, so that an import with a wrong signature stays in
// wasi_unstable and gets the host's stub for unknown imports instead of
// failing to link.
const TranslatedModule = "wasi_unstable/translated"

// Preview1Module is where the functions preview1 serves unchanged move.
const Preview1Module = "wasi_snapshot_preview1"

// Preview1 lists every function wasmtime's WASI preview1 defines, with its
// signature: 'i' is i32, 'I' is i64, the part after ':' the result.
var Preview1 = map[string]string{
	"args_get": "ii:i", "args_sizes_get": "ii:i",
	"environ_get": "ii:i", "environ_sizes_get": "ii:i",
	"clock_res_get": "ii:i", "clock_time_get": "iIi:i",
	"fd_advise": "iIIi:i", "fd_allocate": "iII:i", "fd_close": "i:i", "fd_datasync": "i:i",
	"fd_fdstat_get": "ii:i", "fd_fdstat_set_flags": "ii:i", "fd_fdstat_set_rights": "iII:i",
	"fd_filestat_get": "ii:i", "fd_filestat_set_size": "iI:i", "fd_filestat_set_times": "iIIi:i",
	"fd_pread": "iiiIi:i", "fd_prestat_get": "ii:i", "fd_prestat_dir_name": "iii:i",
	"fd_pwrite": "iiiIi:i", "fd_read": "iiii:i", "fd_readdir": "iiiIi:i", "fd_renumber": "ii:i",
	"fd_seek": "iIii:i", "fd_sync": "i:i", "fd_tell": "ii:i", "fd_write": "iiii:i",
	"path_create_directory": "iii:i", "path_filestat_get": "iiiii:i",
	"path_filestat_set_times": "iiiiIIi:i", "path_link": "iiiiiii:i",
	"path_open": "iiiiiIIii:i", "path_readlink": "iiiiii:i", "path_remove_directory": "iii:i",
	"path_rename": "iiiiii:i", "path_symlink": "iiiii:i", "path_unlink_file": "iii:i",
	"poll_oneoff": "iiii:i", "proc_exit": "i:", "proc_raise": "i:i", "sched_yield": ":i",
	"random_get": "ii:i", "sock_accept": "iii:i", "sock_recv": "iiiiii:i",
	"sock_send": "iiiii:i", "sock_shutdown": "ii:i",
}

// Functions lists every function wasi_unstable defines, in the notation of
// Preview1: all of preview1's but sock_accept (which preview1 added), with
// the same signatures.
var Functions = func() map[string]string {
	m := make(map[string]string, len(Preview1))
	for name, sig := range Preview1 {
		if name != "sock_accept" {
			m[name] = sig
		}
	}
	return m
}()

// Translated lists the functions whose arguments or results differ from
// preview1 in layout or in constants: fd_seek (whence), fd_filestat_get
// and path_filestat_get (filestat), poll_oneoff (subscription). Imports
// defines them, in TranslatedModule. Every other function has the same ABI
// in both snapshots.
var Translated = []string{"fd_seek", "fd_filestat_get", "path_filestat_get", "poll_oneoff"}

// Target returns the module an import wasi_unstable.NAME with signature
// sig (in the notation of Functions) moves to at load time:
// Preview1Module for a function whose ABI preview1 kept, TranslatedModule
// for a Translated one, and "" (stay) for a name wasi_unstable does not
// define or a signature it does not give that name.
func Target(name, sig string) string {
	if want, ok := Functions[name]; !ok || want != sig {
		return ""
	}
	if slices.Contains(Translated, name) {
		return TranslatedModule
	}
	return Preview1Module
}
